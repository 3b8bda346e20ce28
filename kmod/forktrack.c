// SPDX-License-Identifier: GPL-2.0
/*
 * Fork tracking: the sentinel page, the fork hook in its vm_ops->open, the
 * members and their fork-time VMA identity tables, and QUERY, which judges
 * what every member can see of a range of the owner.
 *
 * dup_mmap() calls ->open for the child's copy of the sentinel VMA while it
 * holds the mmap_lock of both mms for write.  There current->mm is the
 * owner's (frozen) address space and vma->vm_mm the child's: the snapshot is
 * exact.  A copy within one mm (mremap) also calls ->open, with
 * vma->vm_mm == current->mm; threads and vfork share the mm and call nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "internal.h"

/* ---- members ---- */

/* the member's pid as the caller's pid namespace sees it (0: not at all) */
pid_t simpler_member_pid(const struct simpler_member *m)
{
	pid_t pid = 0;
#ifdef CONFIG_MEMCG
	struct task_struct *t;

	rcu_read_lock();
	t = rcu_dereference(m->mm->owner);
	if (t)
		pid = task_tgid_vnr(t);
	rcu_read_unlock();
#endif
	return pid;
}

static void simpler_member_free(struct simpler_member *m)
{
	unsigned int i;

	for (i = 0; i < m->nr_ident; i++)
		if (m->ident[i].file)
			fput(m->ident[i].file);
	kvfree(m->ident);
	kfree(m);
}

/* Snapshot the owner's VMAs; the caller (fork) holds its mmap_lock for write. */
static void simpler_member_snapshot(struct simpler_member *m, struct mm_struct *mm)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct simpler_vma_ident *id;
	struct vm_area_struct *vma;
	struct inode *inode;
	unsigned int n = 0;

	/* mmap_assert_write_locked() needs dump_mm, not exported to modules */
	lockdep_assert_held_write(&mm->mmap_lock);
	m->ident = kvcalloc(mm->map_count, sizeof(*m->ident), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!m->ident)
		return;
	for_each_vma(vmi, vma) {
		if (WARN_ON_ONCE(n >= mm->map_count))
			break;
		id = &m->ident[n++];
		id->start = vma->vm_start;
		id->end = vma->vm_end;
		id->flags = vma->vm_flags;
		id->pgoff = vma->vm_pgoff;
		if (vma->vm_file) {
			/* holding the file keeps the inode from being reused */
			id->file = get_file(vma->vm_file);
			inode = file_inode(vma->vm_file);
			id->dev = inode->i_sb->s_dev;
			id->ino = inode->i_ino;
		}
	}
	m->nr_ident = n;
}

/* fork: vma is the child's copy of the owner's sentinel */
static void simpler_member_fork(struct simpler_domain *dom, struct vm_area_struct *vma)
{
	struct simpler_member *m, *dup;

	mutex_lock(&dom->lock);
	m = simpler_member_find(dom, vma->vm_mm);
	if (m)	/* the owner maps the sentinel more than once */
		m->nr_vmas++;
	mutex_unlock(&dom->lock);
	if (m) {
		vma->vm_private_data = m;
		return;
	}

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m) {
		/* ->open cannot fail: the child simply does not join */
		vma->vm_private_data = NULL;
		return;
	}
	m->mm = vma->vm_mm;
	m->nr_vmas = 1;
	/* on failure ident stays NULL and QUERY treats the member as seeing nothing */
	simpler_member_snapshot(m, current->mm);

	mutex_lock(&dom->lock);
	dup = simpler_member_find(dom, vma->vm_mm);
	WARN_ON_ONCE(dup);	/* fork is serialised by the owner's mmap_lock */
	m->id = ++dom->next_member_id;
	list_add_tail(&m->node, &dom->members);
	dom->nr_members++;
	mutex_unlock(&dom->lock);
	vma->vm_private_data = m;
	atomic64_inc(&simpler_stats.members);
	atomic64_inc(&simpler_stats.forks);
}

static void simpler_sentinel_vm_open(struct vm_area_struct *vma)
{
	struct simpler_domain *dom = vma->vm_file->private_data;
	struct simpler_member *m = vma->vm_private_data;

	if (vma->vm_mm == current->mm) {
		/* a copy inside one mm (mremap): same membership, one more VMA */
		if (m) {
			mutex_lock(&dom->lock);
			m->nr_vmas++;
			mutex_unlock(&dom->lock);
		}
		return;
	}
	if (current->mm != dom->owner_mm) {
		/* a member (or a stranger) forking: grandchildren are not members */
		vma->vm_private_data = NULL;
		return;
	}
	simpler_member_fork(dom, vma);
}

static void simpler_sentinel_vm_close(struct vm_area_struct *vma)
{
	struct simpler_domain *dom = vma->vm_file->private_data;
	struct simpler_member *m = vma->vm_private_data;
	bool gone = false;

	if (!m)
		return;
	mutex_lock(&dom->lock);
	if (--m->nr_vmas == 0) {
		list_del(&m->node);
		dom->nr_members--;
		gone = true;
	}
	mutex_unlock(&dom->lock);
	if (gone) {
		atomic64_dec(&simpler_stats.members);
		simpler_member_free(m);
	}
}

static int simpler_sentinel_no_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int simpler_sentinel_no_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static vm_fault_t simpler_sentinel_vm_fault(struct vm_fault *vmf)
{
	if (vmf->pgoff != 0)
		return VM_FAULT_SIGBUS;
	return vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(simpler_sentinel_page));
}

static const struct vm_operations_struct simpler_sentinel_vm_ops = {
	.open = simpler_sentinel_vm_open,
	.close = simpler_sentinel_vm_close,
	.may_split = simpler_sentinel_no_split,
	.mremap = simpler_sentinel_no_mremap,
	.fault = simpler_sentinel_vm_fault,
};

/* The owner maps the sentinel: one read-only page whose VMA every fork copies. */
int simpler_sentinel_mmap(struct simpler_domain *dom, struct vm_area_struct *vma)
{
	if (!simpler_is_owner(dom))
		return -EPERM;
	if (vma_pages(vma) != 1)
		return -EINVAL;
	if (vma->vm_flags & (VM_WRITE | VM_EXEC))
		return -EACCES;
	vma->vm_flags &= ~(VM_MAYWRITE | VM_MAYEXEC);
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &simpler_sentinel_vm_ops;
	vma->vm_private_data = NULL;	/* the owner's own mapping names no member */
	return 0;
}

/* ---- visibility ---- */

static bool simpler_same_object(const struct simpler_vma_ident *id,
				const struct vm_area_struct *vma)
{
	if (!id->file || !vma->vm_file)
		return !id->file && !vma->vm_file;
	if (file_inode(id->file) != file_inode(vma->vm_file))
		return false;
	/* the same file page must sit at the same address */
	return id->pgoff - PHYS_PFN(id->start) == vma->vm_pgoff - PHYS_PFN(vma->vm_start);
}

/* What the member saw at fork where the owner now maps vma over [s, e). */
static u32 simpler_judge_member(const struct simpler_member *m, const struct vm_area_struct *vma,
				unsigned long s, unsigned long e)
{
	const struct simpler_vma_ident *id;
	unsigned int lo = 0, hi = m->nr_ident, mid;
	unsigned long pos = s;
	u32 worst = SIMPLER_VIS_SHARED, v;

	if (!m->ident)
		return SIMPLER_VIS_UNMAPPED;
	/* first entry ending after s */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->ident[mid].end <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; pos < e; lo++) {
		if (lo >= m->nr_ident || m->ident[lo].start > pos)
			return SIMPLER_VIS_UNMAPPED;	/* created after the fork */
		id = &m->ident[lo];
		if (id->flags & VM_DONTCOPY)
			v = SIMPLER_VIS_UNMAPPED;	/* never reached the child */
		else if (!simpler_same_object(id, vma))
			v = SIMPLER_VIS_MISMATCH;
		else if ((id->flags & VM_WIPEONFORK) || !(id->flags & VM_MAYSHARE) ||
			 !(vma->vm_flags & VM_MAYSHARE))
			v = SIMPLER_VIS_PRIVATE;
		else
			v = SIMPLER_VIS_SHARED;
		worst = max(worst, v);
		pos = id->end;
	}
	return worst;
}

/* What a child forked now would get of vma: the floor for every member. */
static u32 simpler_judge_now(const struct vm_area_struct *vma)
{
	if (vma->vm_flags & VM_DONTCOPY)
		return SIMPLER_VIS_UNMAPPED;
	if ((vma->vm_flags & VM_WIPEONFORK) || !(vma->vm_flags & VM_MAYSHARE))
		return SIMPLER_VIS_PRIVATE;
	return SIMPLER_VIS_SHARED;
}

/* Judge [addr, end) against every member.  Owner's mmap_lock held. */
static void simpler_judge_range(struct simpler_domain *dom, struct mm_struct *mm,
				unsigned long addr, unsigned long end, struct simpler_query *q)
{
	VMA_ITERATOR(vmi, mm, addr);
	struct simpler_member *m, *first_bad = NULL;
	struct vm_area_struct *vma;
	unsigned long pos = addr, s, e;
	u32 worst = SIMPLER_VIS_SHARED, floor, v;

	mutex_lock(&dom->lock);
	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > pos)
			worst = SIMPLER_VIS_UNMAPPED;	/* a hole now */
		s = max(pos, vma->vm_start);
		e = min(end, vma->vm_end);
		floor = simpler_judge_now(vma);
		worst = max(worst, floor);
		list_for_each_entry(m, &dom->members, node) {
			v = max(floor, simpler_judge_member(m, vma, s, e));
			if (v != SIMPLER_VIS_SHARED && !first_bad)
				first_bad = m;
			worst = max(worst, v);
		}
		pos = e;
	}
	if (pos < end)
		worst = SIMPLER_VIS_UNMAPPED;
	if (worst != SIMPLER_VIS_SHARED && !first_bad && !list_empty(&dom->members))
		first_bad = list_first_entry(&dom->members, struct simpler_member, node);
	q->verdict = worst;
	q->nr_members = dom->nr_members;
	if (first_bad) {
		q->member_id = first_bad->id;
		q->member_pid = simpler_member_pid(first_bad);
	}
	mutex_unlock(&dom->lock);
}

int simpler_ioctl_query(struct simpler_domain *dom, void __user *uarg)
{
	struct mm_struct *mm = current->mm;
	enum simpler_buf_state state;
	struct simpler_buf *buf;
	struct simpler_query q;
	unsigned long end;
	u32 usize;
	int ret;

	ret = simpler_copy_arg(&q, sizeof(q), SIMPLER_QUERY_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (q.flags || q.pad)
		return -EINVAL;
	if (!simpler_is_owner(dom))
		return -EPERM;
	if (!q.len)
		return -ERANGE;
	if (q.addr + q.len < q.addr || q.addr + q.len > TASK_SIZE)
		return -EOVERFLOW;
	end = q.addr + q.len;
	q.verdict = 0;
	q.buf_flags = 0;
	q.handle = 0;
	q.offset = 0;
	q.member_id = 0;
	q.member_pid = 0;
	q.nr_members = 0;

	ret = mmap_read_lock_killable(mm);
	if (ret)
		return ret;
	buf = simpler_buf_find_get(dom, q.addr);
	if (buf) {
		state = simpler_buf_settle(buf, true);
		q.handle = buf->handle;
		q.offset = q.addr - buf->addr;
		if (state == SIMPLER_BUF_STALE_ST)
			q.buf_flags |= SIMPLER_BUF_STALE;
		if (state == SIMPLER_BUF_LIVE && end <= buf->addr + (buf->npages << PAGE_SHIFT)) {
			q.verdict = SIMPLER_VIS_REGISTERED;
			mutex_lock(&dom->lock);
			q.nr_members = dom->nr_members;
			mutex_unlock(&dom->lock);
		}
		simpler_buf_put(buf);
	}
	if (!q.verdict)
		simpler_judge_range(dom, mm, q.addr, end, &q);
	mmap_read_unlock(mm);

	return simpler_copy_out(uarg, usize, &q, sizeof(q));
}
