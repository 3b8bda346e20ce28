// SPDX-License-Identifier: GPL-2.0
/*
 * simpler.ko: the misc device, domains (one per open file), the ioctl
 * dispatcher and INFO.  Pinning and member mappings live in hostbuf.c, the
 * fork hook and visibility in forktrack.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pid.h>
#include <linux/pseudo_fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "internal.h"

unsigned long simpler_max_pinned_mb;
module_param_named(max_pinned_mb, simpler_max_pinned_mb, ulong, 0644);
MODULE_PARM_DESC(max_pinned_mb,
		 "Cap on memory one domain may pin, in MiB, even for CAP_IPC_LOCK (0 at load: half of RAM)");

unsigned int simpler_max_buffers = 65536;
module_param_named(max_buffers, simpler_max_buffers, uint, 0644);
MODULE_PARM_DESC(max_buffers, "Registered buffers per domain");

struct simpler_stats simpler_stats;
struct page *simpler_sentinel_page;

static atomic64_t simpler_next_domain_id;

/*
 * Each open has an address_space of its own, so that unregister can zap the
 * member mappings of a buffer with unmap_mapping_range() and mmap offsets
 * are per domain.  Core mm wants a real inode behind it, hence a tiny
 * internal pseudo filesystem (as DRM does).  The type has no .owner: a
 * kernel mount must not hold the module.
 */
#define SIMPLER_FS_MAGIC	0x53504d4c

static int simpler_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, SIMPLER_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type simpler_fs_type = {
	.name = "simpler",
	.init_fs_context = simpler_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static struct vfsmount *simpler_fs_mnt;
static int simpler_fs_count;

struct address_space *simpler_dom_mapping(const struct simpler_domain *dom)
{
	return dom->inode->i_mapping;
}

bool simpler_is_owner(const struct simpler_domain *dom)
{
	return current->mm && current->mm == dom->owner_mm;
}

/* Caller holds dom->lock. */
struct simpler_member *simpler_member_find(struct simpler_domain *dom, struct mm_struct *mm)
{
	struct simpler_member *m;

	lockdep_assert_held(&dom->lock);
	if (!mm)
		return NULL;
	list_for_each_entry(m, &dom->members, node)
		if (m->mm == mm)
			return m;
	return NULL;
}

/*
 * Copy in a size-first extensible argument.  An older (shorter) struct is
 * zero-extended; unknown non-zero trailing bytes give -E2BIG; anything below
 * the version-0 size gives -EINVAL.
 */
int simpler_copy_arg(void *karg, size_t ksize, size_t ver0, const void __user *uarg, u32 *usize)
{
	u32 size;
	int ret;

	if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0)
		return -EINVAL;
	if (size > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(karg, ksize, uarg, size);
	if (ret)
		return ret;
	*usize = size;
	return 0;
}

/* Copy out no more than the caller's struct holds. */
int simpler_copy_out(void __user *uarg, u32 usize, const void *karg, size_t ksize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, usize, ksize)))
		return -EFAULT;
	return 0;
}

static int simpler_ioctl_info(struct simpler_domain *dom, void __user *uarg)
{
	struct simpler_info info;
	struct simpler_member *m;
	u32 usize;
	int ret;

	ret = simpler_copy_arg(&info, sizeof(info), SIMPLER_INFO_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;

	memset(&info, 0, sizeof(info));
	info.size = usize;
	info.abi_version = SIMPLER_ABI_VERSION;
	info.page_size = PAGE_SIZE;
	info.features = SIMPLER_FEAT_HOSTBUF | SIMPLER_FEAT_FORKTRACK | SIMPLER_FEAT_STALE;
	if (IS_ENABLED(CONFIG_HUGETLB_PAGE))
		info.features |= SIMPLER_FEAT_HUGETLB;
	info.pinned_limit = simpler_pinned_limit_pages() << PAGE_SHIFT;
	info.domain_id = dom->id;

	/*
	 * Anyone holding the fd learns its role and the module's facts; the
	 * domain's own state (what the owner pinned, how many members it
	 * has) only the owner and its members.
	 */
	mutex_lock(&dom->lock);
	if (simpler_is_owner(dom)) {
		info.role = SIMPLER_ROLE_OWNER;
	} else {
		m = simpler_member_find(dom, current->mm);
		if (m) {
			info.role = SIMPLER_ROLE_MEMBER;
			info.member_id = m->id;
		}
	}
	if (info.role != SIMPLER_ROLE_NONE) {
		info.pinned_bytes = (u64)atomic_long_read(&dom->pinned_pages) << PAGE_SHIFT;
		info.nr_buffers = dom->nr_bufs;
		info.nr_members = dom->nr_members;
	}
	mutex_unlock(&dom->lock);

	return simpler_copy_out(uarg, usize, &info, sizeof(info));
}

/* the size bits are ignored: the struct's own size field is authoritative */
#define SIMPLER_IOC_NOSIZE(cmd)	((cmd) & ~IOCSIZE_MASK)

static long simpler_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct simpler_domain *dom = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (SIMPLER_IOC_NOSIZE(cmd)) {
	case SIMPLER_IOC_NOSIZE(SIMPLER_IOC_INFO):
		return simpler_ioctl_info(dom, uarg);
	case SIMPLER_IOC_NOSIZE(SIMPLER_IOC_REGISTER):
		return simpler_ioctl_register(dom, uarg);
	case SIMPLER_IOC_NOSIZE(SIMPLER_IOC_UNREGISTER):
		return simpler_ioctl_unregister(dom, uarg);
	case SIMPLER_IOC_NOSIZE(SIMPLER_IOC_QUERY):
		return simpler_ioctl_query(dom, uarg);
	case SIMPLER_IOC_NOSIZE(SIMPLER_IOC_LOOKUP):
		return simpler_ioctl_lookup(dom, uarg);
	default:
		return -ENOTTY;
	}
}

static int simpler_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct simpler_domain *dom = file->private_data;

	/* a private COW mapping of PFNs is meaningless and BUGs in vmf_insert_pfn */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff == 0)
		return simpler_sentinel_mmap(dom, vma);
	return simpler_buf_mmap(dom, vma);
}

static int simpler_open(struct inode *inode, struct file *file)
{
	struct simpler_domain *dom;
	int ret;

	if (!current->mm)
		return -EINVAL;
	dom = kzalloc(sizeof(*dom), GFP_KERNEL_ACCOUNT);
	if (!dom)
		return -ENOMEM;
	dom->inode = alloc_anon_inode(simpler_fs_mnt->mnt_sb);
	if (IS_ERR(dom->inode)) {
		ret = PTR_ERR(dom->inode);
		kfree(dom);
		return ret;
	}

	mutex_init(&dom->lock);
	xa_init_flags(&dom->bufs, XA_FLAGS_ALLOC1 | XA_FLAGS_ACCOUNT);
	dom->next_handle = 1;
	dom->tree = RB_ROOT_CACHED;
	dom->offs = RB_ROOT_CACHED;
	dom->next_off = SIMPLER_OFF_FIRST;
	INIT_LIST_HEAD(&dom->members);
	INIT_WORK(&dom->reap_work, simpler_reap_work);
	INIT_WORK(&dom->zap_work, simpler_zap_work);
	init_llist_head(&dom->zaps);
	init_waitqueue_head(&dom->zap_wq);
	dom->file = file;
	atomic_long_set(&dom->pinned_pages, 0);
	mmgrab(current->mm);
	dom->owner_mm = current->mm;
	dom->owner_pid = get_pid(task_tgid(current));
	dom->id = atomic64_inc_return(&simpler_next_domain_id);

	file->private_data = dom;
	file->f_mapping = dom->inode->i_mapping;
	atomic64_inc(&simpler_stats.domains);
	simpler_debugfs_domain_add(dom);
	return 0;
}

/*
 * Last reference to the file: no VMA of ours exists any more (each holds the
 * file), no ioctl runs, and no zap request is pending (each holds the file
 * too).  Notifiers still running on our buffers hold the file only if they
 * got a reference while it was non-zero; unregistering removes them, which
 * waits for them to finish.
 */
static int simpler_release(struct inode *inode, struct file *file)
{
	struct simpler_domain *dom = file->private_data;

	simpler_debugfs_domain_remove(dom);
	simpler_domain_unregister_all(dom);
	/* no notifier is left to queue more */
	cancel_work_sync(&dom->reap_work);
	cancel_work_sync(&dom->zap_work);
	simpler_zap_drain(dom);
	WARN_ON(!list_empty(&dom->members));
	WARN_ON(atomic_long_read(&dom->pinned_pages));
	WARN_ON(!xa_empty(&dom->bufs));
	xa_destroy(&dom->bufs);
	iput(dom->inode);
	put_pid(dom->owner_pid);
	mmdrop(dom->owner_mm);
	atomic64_dec(&simpler_stats.domains);
	kfree(dom);
	return 0;
}

static const struct file_operations simpler_fops = {
	.owner = THIS_MODULE,
	.open = simpler_open,
	.release = simpler_release,
	.unlocked_ioctl = simpler_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = simpler_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice simpler_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "simpler",
	.fops = &simpler_fops,
	.mode = 0660,
};

static int __init simpler_init(void)
{
	u32 *magic;
	int ret;

	BUILD_BUG_ON(sizeof(struct simpler_info) != SIMPLER_INFO_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct simpler_register) != SIMPLER_REGISTER_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct simpler_unregister) != SIMPLER_UNREGISTER_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct simpler_query) != SIMPLER_QUERY_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct simpler_lookup) != SIMPLER_LOOKUP_SIZE_VER0);

	if (!simpler_max_pinned_mb)
		simpler_max_pinned_mb = (totalram_pages() >> (20 - PAGE_SHIFT)) / 2;

	simpler_sentinel_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!simpler_sentinel_page)
		return -ENOMEM;
	magic = page_address(simpler_sentinel_page);
	magic[0] = SIMPLER_SENTINEL_MAGIC;
	magic[1] = SIMPLER_ABI_VERSION;

	ret = simple_pin_fs(&simpler_fs_type, &simpler_fs_mnt, &simpler_fs_count);
	if (ret)
		goto err_free_page;

	simpler_debugfs_init();
	ret = misc_register(&simpler_misc);
	if (ret)
		goto err_debugfs;
	pr_info("ABI %u, max_pinned_mb=%lu per domain\n", SIMPLER_ABI_VERSION,
		simpler_max_pinned_mb);
	return 0;

err_debugfs:
	simpler_debugfs_exit();
	simple_release_fs(&simpler_fs_mnt, &simpler_fs_count);
err_free_page:
	__free_page(simpler_sentinel_page);
	return ret;
}

static void __exit simpler_exit(void)
{
	misc_deregister(&simpler_misc);
	simpler_debugfs_exit();
	simple_release_fs(&simpler_fs_mnt, &simpler_fs_count);
	__free_page(simpler_sentinel_page);
}

module_init(simpler_init);
module_exit(simpler_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("simpler developers");
MODULE_DESCRIPTION("Pinned host buffers shared with forked children, and fork-time visibility");
MODULE_VERSION(SIMPLER_MODULE_VERSION);	/* from Kbuild */
