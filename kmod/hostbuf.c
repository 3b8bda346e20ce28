// SPDX-License-Identifier: GPL-2.0
/*
 * Registered host buffers: pinning the owner's pages with accounting, the
 * member mappings (VM_PFNMAP, filled at fault time), unregister, LOOKUP, and
 * stale detection when the owner unmaps or replaces a registered range.
 *
 * A buffer is refcounted: the domain's registration holds one reference,
 * every member VMA one more.  Unregister zaps member PTEs before dropping the
 * registration; the pages are unpinned when the last reference goes.
 *
 * Stale detection: an mmu interval notifier on the owner's range.  Many
 * invalidations leave the pinned pages mapped (THP splits, hugetlb fork,
 * failed migrations), so an invalidation only makes the buffer SUSPECT and
 * zaps member PTEs; the next user (a member fault, LOOKUP, QUERY) compares
 * what the owner maps now with the pinned pages and settles on LIVE or STALE.
 *
 * The notifier can run from reclaim, so its lock (buf->lock, a spinlock) is
 * never held across an allocation.  A fault inserts PTEs without it and then
 * re-checks buf->zap_gen: if the state changed meanwhile it removes its own
 * PTEs.  Either the later zap sees the new PTEs or the fault sees the change.
 *
 * Zapping member PTEs (unmap_mapping_range) itself runs mmu notifiers, so it
 * must not happen inside ours.  The notifier asks for a zap that runs as
 * task work of the thread that changed the owner's memory, before that
 * thread returns to user space: when munmap() or madvise() returns, the
 * members' mappings are gone.  Every thread whose change hits a buffer
 * with a zap still owed asks for one of its own (a second owner thread
 * must not return before the first thread's zap has run).  When that
 * request cannot be allocated the notifier hands the zap to the domain's
 * worker and, if it may sleep, waits for it.  Kernel threads (reclaim,
 * khugepaged), which never return to user space, hand it to the worker
 * without waiting; what they do keeps the pinned pages mapped (a failed
 * migration, a THP split), so that zap is only conservative.
 *
 * A zap request holds the domain's file, taken only while the file has
 * references: once the last one is gone no mapping of the domain exists
 * and there is nothing to zap, and the file is not brought back to life.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "internal.h"

/* the 6.1 condition for user_struct.locked_vm (include/linux/sched/user.h) */
#if !(defined(CONFIG_NET) || defined(CONFIG_IO_URING) || defined(CONFIG_VFIO_PCI_ZDEV_KVM) || \
	IS_ENABLED(CONFIG_IOMMUFD) || defined(CONFIG_SECRETMEM))
#error "simpler.ko charges pins to user_struct.locked_vm: enable CONFIG_NET or CONFIG_IO_URING"
#endif

/* member PTEs are installed this many pages around a faulting one */
#define SIMPLER_FAULT_AROUND	512UL

u64 simpler_pinned_limit_pages(void)
{
	return (u64)READ_ONCE(simpler_max_pinned_mb) << (20 - PAGE_SHIFT);
}

static loff_t simpler_buf_offset(const struct simpler_buf *buf)
{
	return (loff_t)buf->pgoff << PAGE_SHIFT;
}

/* ---- accounting: per-user RLIMIT_MEMLOCK like io_uring, plus pinned_vm ---- */

static int simpler_charge(struct simpler_buf *buf)
{
	unsigned long limit, cur, new;
	struct user_struct *user;

	if (!ns_capable_noaudit(&init_user_ns, CAP_IPC_LOCK)) {
		user = get_uid(current_user());
		limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
		cur = atomic_long_read(&user->locked_vm);
		do {
			new = cur + buf->npages;
			if (new > limit || new < cur) {
				free_uid(user);
				return -ENOMEM;
			}
		} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, new));
		buf->user = user;
	}
	atomic64_add(buf->npages, &buf->mm->pinned_vm);
	buf->charged = true;
	return 0;
}

static void simpler_uncharge(struct simpler_buf *buf)
{
	if (!buf->charged)
		return;
	if (buf->user) {
		atomic_long_sub(buf->npages, &buf->user->locked_vm);
		free_uid(buf->user);
	}
	atomic64_sub(buf->npages, &buf->mm->pinned_vm);
}

/* ---- lifetime ---- */

static void simpler_buf_release(struct kref *ref)
{
	struct simpler_buf *buf = container_of(ref, struct simpler_buf, ref);
	struct simpler_domain *dom = buf->dom;

	WARN_ON(buf->notifier_on);
	if (buf->npinned) {
		/* members write through PFN mappings: no dirty tracking, assume dirty */
		unpin_user_pages_dirty_lock(buf->pages, buf->npinned, true);
		atomic64_sub(buf->npinned, &simpler_stats.pinned_pages);
	}
	simpler_uncharge(buf);
	if (buf->reserved) {
		/* the offsets go last: no mapping of this buffer can be left */
		mutex_lock(&dom->lock);
		interval_tree_remove(&buf->off_itn, &dom->offs);
		mutex_unlock(&dom->lock);
		atomic_long_sub(buf->npages, &dom->pinned_pages);
	}
	kvfree(buf->pages);
	mmdrop(buf->mm);
	atomic64_dec(&simpler_stats.buffers);
	kfree(buf);
}

void simpler_buf_put(struct simpler_buf *buf)
{
	kref_put(&buf->ref, simpler_buf_release);
}

/* ---- zapping member PTEs ---- */

/*
 * Tasks inside one of our zaps.  A zap runs the notifiers of the mm it
 * zaps; if one of ours fires there and falls back to the worker, it must not
 * wait for it: the worker may need the i_mmap_rwsem this task holds.  A full
 * table only makes every such fallback not wait.
 */
static struct task_struct *simpler_zappers[32];
static atomic_t simpler_zappers_overflow = ATOMIC_INIT(0);

static int simpler_zap_enter(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(simpler_zappers); i++)
		if (!cmpxchg(&simpler_zappers[i], NULL, current))
			return i;
	atomic_inc(&simpler_zappers_overflow);
	return -1;
}

static void simpler_zap_exit(int slot)
{
	if (slot < 0)
		atomic_dec(&simpler_zappers_overflow);
	else
		WRITE_ONCE(simpler_zappers[slot], NULL);
}

static bool simpler_zapping(void)
{
	int i;

	if (atomic_read(&simpler_zappers_overflow))
		return true;
	for (i = 0; i < ARRAY_SIZE(simpler_zappers); i++)
		if (READ_ONCE(simpler_zappers[i]) == current)
			return true;
	return false;
}

/* a != b in generations that wrap */
static bool simpler_gen_after(unsigned long a, unsigned long b)
{
	return (long)(a - b) > 0;
}

/* Remove every member PTE of the buffer; then zap request gen is done. */
static void simpler_buf_zap(struct simpler_buf *buf, unsigned long gen)
{
	struct simpler_domain *dom = buf->dom;
	int slot;

	slot = simpler_zap_enter();
	unmap_mapping_range(simpler_dom_mapping(dom), simpler_buf_offset(buf),
			    (loff_t)buf->npages << PAGE_SHIFT, 1);
	simpler_zap_exit(slot);
	spin_lock(&buf->lock);
	if (simpler_gen_after(gen, buf->zap_done))
		buf->zap_done = gen;
	spin_unlock(&buf->lock);
	/* pairs with the waiter's prepare_to_wait() in simpler_zap_request() */
	if (wq_has_sleeper(&dom->zap_wq))
		wake_up_all(&dom->zap_wq);
}

static bool simpler_buf_zapped(struct simpler_buf *buf, unsigned long gen)
{
	bool done;

	spin_lock(&buf->lock);
	done = !simpler_gen_after(gen, buf->zap_done);
	spin_unlock(&buf->lock);
	return done;
}

/* Zap every buffer queued for the worker.  Process context, no locks held. */
void simpler_zap_drain(struct simpler_domain *dom)
{
	struct llist_node *list = llist_del_all(&dom->zaps);
	struct simpler_buf *buf, *next;
	unsigned long gen;

	llist_for_each_entry_safe(buf, next, list, zap_node) {
		spin_lock(&buf->lock);
		buf->zap_queued = false;	/* a later request queues it again */
		gen = buf->zap_gen;
		spin_unlock(&buf->lock);
		simpler_buf_zap(buf, gen);
		simpler_buf_put(buf);
	}
}

void simpler_zap_work(struct work_struct *work)
{
	simpler_zap_drain(container_of(work, struct simpler_domain, zap_work));
}

struct simpler_zap_req {
	struct callback_head cb;
	struct simpler_buf *buf;	/* reference held */
	struct file *file;		/* keeps the domain (and the module) alive */
	unsigned long gen;
};

static void simpler_zap_req_run(struct callback_head *cb)
{
	struct simpler_zap_req *req = container_of(cb, struct simpler_zap_req, cb);

	simpler_buf_zap(req->buf, req->gen);
	simpler_buf_put(req->buf);
	fput(req->file);
	kfree(req);
}

/*
 * From the notifier: member PTEs of buf must be gone before this task
 * returns to user space (zap request gen).  The notifier may run in reclaim:
 * nothing here reclaims.  The buffer cannot go away meanwhile: its notifier
 * is registered, so its registration reference is held.
 */
static void simpler_zap_request(struct simpler_buf *buf, unsigned long gen, bool blockable)
{
	struct simpler_domain *dom = buf->dom;
	struct simpler_zap_req *req;
	bool queue;

	/*
	 * No reference left: no VMA maps the domain (each holds one), so there
	 * is nothing to zap, and ->release is on its way to revoke everything.
	 */
	if (!get_file_rcu(dom->file)) {
		spin_lock(&buf->lock);
		if (simpler_gen_after(gen, buf->zap_done))
			buf->zap_done = gen;
		spin_unlock(&buf->lock);
		return;
	}
	if (!(current->flags & (PF_KTHREAD | PF_IO_WORKER))) {
		req = kmalloc(sizeof(*req), GFP_ATOMIC | __GFP_NOWARN);
		if (req) {
			kref_get(&buf->ref);
			req->buf = buf;
			req->file = dom->file;
			req->gen = gen;
			init_task_work(&req->cb, simpler_zap_req_run);
			if (!task_work_add(current, &req->cb, TWA_RESUME))
				return;
			/* an exiting task: not the last references (see above) */
			simpler_buf_put(buf);
			kfree(req);
		}
	}

	atomic64_inc(&simpler_stats.zap_fallbacks);
	spin_lock(&buf->lock);
	queue = !buf->zap_queued;
	buf->zap_queued = true;
	spin_unlock(&buf->lock);
	if (queue) {
		kref_get(&buf->ref);	/* dropped by the drain */
		llist_add(&buf->zap_node, &dom->zaps);
	}
	schedule_work(&dom->zap_work);
	if (blockable && !(current->flags & (PF_KTHREAD | PF_IO_WORKER)) && !simpler_zapping())
		wait_event_killable(dom->zap_wq, simpler_buf_zapped(buf, gen));
	/* maybe the last reference now: then __fput runs later, not here */
	fput(dom->file);
}

/* ---- the owner's range changed: mmu interval notifier ---- */

static bool simpler_buf_invalidate(struct mmu_interval_notifier *mni,
				   const struct mmu_notifier_range *range,
				   unsigned long cur_seq)
{
	struct simpler_buf *buf = container_of(mni, struct simpler_buf, mni);
	bool zap = false, reap = false;
	unsigned long gen = 0;

	switch (range->event) {
	case MMU_NOTIFY_PROTECTION_VMA:
	case MMU_NOTIFY_PROTECTION_PAGE:
	case MMU_NOTIFY_SOFT_DIRTY:
		/* same pages, other permissions: members are unaffected */
		return true;
	default:
		break;
	}
	atomic64_inc(&simpler_stats.invalidations);
	spin_lock(&buf->lock);
	mmu_interval_set_seq(mni, cur_seq);
	/* a zap still owed: this caller must not return before it is done either */
	zap = buf->zap_done != buf->zap_gen;
	if (range->event == MMU_NOTIFY_RELEASE) {
		/* the owner's address space is going away */
		zap |= buf->state == SIMPLER_BUF_LIVE;
		if (buf->state == SIMPLER_BUF_LIVE || buf->state == SIMPLER_BUF_SUSPECT) {
			buf->state = SIMPLER_BUF_STALE_ST;
			atomic64_inc(&simpler_stats.stale);
		}
		reap = true;
	} else if (buf->state == SIMPLER_BUF_LIVE) {
		/* PTEs exist only while LIVE; a fault racing with us re-checks zap_gen */
		buf->state = SIMPLER_BUF_SUSPECT;
		zap = true;
	}
	if (zap)
		gen = ++buf->zap_gen;
	spin_unlock(&buf->lock);

	if (zap)
		simpler_zap_request(buf, gen, mmu_notifier_range_blockable(range));
	if (reap)
		schedule_work(&buf->dom->reap_work);
	return true;
}

static const struct mmu_interval_notifier_ops simpler_buf_mni_ops = {
	.invalidate = simpler_buf_invalidate,
};

/*
 * Does the owner still map exactly the pinned pages?  Caller holds the
 * owner's mmap_lock for read.  No fault is taken: an absent page is a change.
 * On 6.1 hugetlb GUP ignores FOLL_NOFAULT; FOLL_DUMP stops it at a hole with
 * no page cache behind it instead of allocating a huge page in the owner
 * (a shared hugetlb page still in the page cache is mapped back, not made).
 */
static bool simpler_buf_matches(struct simpler_buf *buf)
{
	struct page *batch[32];
	unsigned long i, want, done = 0;
	bool same = true;
	long n;

	while (done < buf->npages && same) {
		want = min_t(unsigned long, buf->npages - done, ARRAY_SIZE(batch));
		n = get_user_pages_remote(buf->mm, buf->addr + (done << PAGE_SHIFT), want,
					  FOLL_NOFAULT | FOLL_DUMP, batch, NULL, NULL);
		if (n <= 0)
			return false;
		for (i = 0; i < n; i++) {
			if (batch[i] != buf->pages[done + i])
				same = false;
			put_page(batch[i]);
		}
		done += n;
		cond_resched();
	}
	return same;
}

/*
 * Resolve SUSPECT into LIVE or STALE and return the resulting state.  With
 * mm_locked the caller holds the owner's mmap_lock (QUERY, or the owner
 * faulting on its own mapping); otherwise it may hold another mm's mmap_lock
 * (a member fault), so the owner's is taken nested.
 */
enum simpler_buf_state simpler_buf_settle(struct simpler_buf *buf, bool mm_locked)
{
	enum simpler_buf_state state;
	unsigned long seq;
	bool same;

	for (;;) {
		state = READ_ONCE(buf->state);
		if (state != SIMPLER_BUF_SUSPECT)
			return state;

		seq = mmu_interval_read_begin(&buf->mni);
		if (mm_locked) {
			same = simpler_buf_matches(buf);
		} else if (!mmget_not_zero(buf->mm)) {
			same = false;
		} else {
			if (down_read_killable_nested(&buf->mm->mmap_lock, SINGLE_DEPTH_NESTING)) {
				mmput_async(buf->mm);
				return SIMPLER_BUF_SUSPECT;
			}
			same = simpler_buf_matches(buf);
			up_read(&buf->mm->mmap_lock);
			mmput_async(buf->mm);
		}
		atomic64_inc(&simpler_stats.verifies);

		spin_lock(&buf->lock);
		if (buf->state == SIMPLER_BUF_SUSPECT && !mmu_interval_read_retry(&buf->mni, seq)) {
			WRITE_ONCE(buf->state, same ? SIMPLER_BUF_LIVE : SIMPLER_BUF_STALE_ST);
			if (!same)
				atomic64_inc(&simpler_stats.stale);
		}
		spin_unlock(&buf->lock);
		if (fatal_signal_pending(current))
			return SIMPLER_BUF_SUSPECT;
	}
}

/* ---- member mappings ---- */

static void simpler_buf_vm_open(struct vm_area_struct *vma)
{
	struct simpler_buf *buf = vma->vm_private_data;

	kref_get(&buf->ref);
	atomic_inc(&buf->nr_maps);
}

static void simpler_buf_vm_close(struct vm_area_struct *vma)
{
	struct simpler_buf *buf = vma->vm_private_data;

	atomic_dec(&buf->nr_maps);
	simpler_buf_put(buf);
}

static int simpler_vm_no_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int simpler_vm_no_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

/* Is the buffer LIVE, and has no zap happened since *seq (0: take a snapshot)? */
static bool simpler_buf_live(struct simpler_buf *buf, unsigned long *seq, bool snapshot)
{
	bool live;

	spin_lock(&buf->lock);
	live = buf->state == SIMPLER_BUF_LIVE && (snapshot || buf->zap_gen == *seq);
	*seq = buf->zap_gen;
	spin_unlock(&buf->lock);
	return live;
}

static vm_fault_t simpler_buf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct simpler_buf *buf = vma->vm_private_data;
	unsigned long idx = vmf->pgoff - buf->pgoff;
	unsigned long first, last, i, addr, seq;
	enum simpler_buf_state state;
	vm_fault_t ret;

	if (idx >= buf->npages)
		return VM_FAULT_SIGBUS;
	atomic64_inc(&simpler_stats.faults);

	/* fill the aligned window around the fault: one fault per 2 MiB */
	first = max(round_down(vmf->address, SIMPLER_FAULT_AROUND << PAGE_SHIFT), vma->vm_start);
	/* mmap checked that the VMA lies inside the buffer */
	last = min(first + (SIMPLER_FAULT_AROUND << PAGE_SHIFT), vma->vm_end);
	for (;;) {
		if (!simpler_buf_live(buf, &seq, true)) {
			state = READ_ONCE(buf->state);
			if (state != SIMPLER_BUF_SUSPECT || fatal_signal_pending(current))
				return VM_FAULT_SIGBUS;
			/* the owner faulting on its own mapping already holds its mmap_lock */
			simpler_buf_settle(buf, vma->vm_mm == buf->mm);
			continue;
		}
		/* may allocate page tables: no lock of ours is held */
		ret = vmf_insert_pfn(vma, vmf->address, page_to_pfn(buf->pages[idx]));
		for (addr = first; ret == VM_FAULT_NOPAGE && addr < last; addr += PAGE_SIZE) {
			if (addr == vmf->address)
				continue;
			i = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT) - buf->pgoff;
			if (vmf_insert_pfn(vma, addr, page_to_pfn(buf->pages[i])) != VM_FAULT_NOPAGE)
				break;
		}
		if (simpler_buf_live(buf, &seq, false))
			return ret;
		/* zapped while we inserted: take ours back and look again */
		zap_vma_ptes(vma, first, last - first);
	}
}

/* ptrace/gdb access to a member mapping (GUP cannot walk VM_PFNMAP) */
static int simpler_buf_vm_access(struct vm_area_struct *vma, unsigned long addr,
				 void *data, int len, int write)
{
	struct simpler_buf *buf = vma->vm_private_data;
	unsigned long idx, off;
	int done = 0, n;
	void *kaddr;

	/* a read-only mapping (or one of an O_RDONLY fd) is read-only here too */
	if (write && !(vma->vm_flags & VM_WRITE))
		return -EACCES;
	/* the VMA's reference keeps the pages pinned; only refuse a dead buffer */
	if (READ_ONCE(buf->state) != SIMPLER_BUF_LIVE)
		return -EIO;
	while (done < len) {
		idx = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT) - buf->pgoff;
		if (addr >= vma->vm_end || idx >= buf->npages)
			break;
		off = offset_in_page(addr);
		n = min_t(int, len - done, PAGE_SIZE - off);
		kaddr = kmap_local_page(buf->pages[idx]);
		if (write)
			memcpy(kaddr + off, data + done, n);
		else
			memcpy(data + done, kaddr + off, n);
		kunmap_local(kaddr);
		done += n;
		addr += n;
	}
	return done;
}

static const struct vm_operations_struct simpler_buf_vm_ops = {
	.open = simpler_buf_vm_open,
	.close = simpler_buf_vm_close,
	.may_split = simpler_vm_no_split,
	.mremap = simpler_vm_no_mremap,
	.fault = simpler_buf_vm_fault,
	.access = simpler_buf_vm_access,
};

/* mmap of a buffer by the owner or a member; mmap_lock held for write */
int simpler_buf_mmap(struct simpler_domain *dom, struct vm_area_struct *vma)
{
	struct interval_tree_node *n;
	struct simpler_buf *buf;
	unsigned long first;
	int ret = 0;

	/* data, never code: the sentinel refuses PROT_EXEC as well */
	if (vma->vm_flags & VM_EXEC)
		return -EACCES;
	mutex_lock(&dom->lock);
	if (!simpler_is_owner(dom) && !simpler_member_find(dom, current->mm)) {
		ret = -EACCES;
		goto out;
	}
	n = interval_tree_iter_first(&dom->offs, vma->vm_pgoff, vma->vm_pgoff);
	buf = n ? container_of(n, struct simpler_buf, off_itn) : NULL;
	if (!buf || buf->state == SIMPLER_BUF_PENDING || buf->state == SIMPLER_BUF_REVOKED) {
		ret = -EINVAL;
		goto out;
	}
	first = vma->vm_pgoff - buf->pgoff;
	if (vma_pages(vma) > buf->npages - first) {
		ret = -EINVAL;
		goto out;
	}
	if (buf->state == SIMPLER_BUF_STALE_ST) {
		ret = -ESTALE;
		goto out;
	}
	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY;
	vma->vm_flags &= ~VM_MAYEXEC;
	vma->vm_ops = &simpler_buf_vm_ops;
	vma->vm_private_data = buf;
	simpler_buf_vm_open(vma);
out:
	mutex_unlock(&dom->lock);
	return ret;
}

/* ---- REGISTER ---- */

/* Caller holds dom->lock.  Buffers whose range contains addr, preferring a usable one. */
static struct simpler_buf *simpler_buf_find_locked(struct simpler_domain *dom, unsigned long addr)
{
	struct interval_tree_node *n;
	struct simpler_buf *buf, *stale = NULL;

	for (n = interval_tree_iter_first(&dom->tree, addr, addr); n;
	     n = interval_tree_iter_next(n, addr, addr)) {
		buf = container_of(n, struct simpler_buf, itn);
		if (buf->state == SIMPLER_BUF_LIVE || buf->state == SIMPLER_BUF_SUSPECT)
			return buf;
		if (buf->state == SIMPLER_BUF_STALE_ST && !stale)
			stale = buf;
	}
	return stale;
}

struct simpler_buf *simpler_buf_find_get(struct simpler_domain *dom, unsigned long addr)
{
	struct simpler_buf *buf;

	mutex_lock(&dom->lock);
	buf = simpler_buf_find_locked(dom, addr);
	if (buf)
		kref_get(&buf->ref);
	mutex_unlock(&dom->lock);
	return buf;
}

/* Every VMA over [start, end) must be pinnable memory.  mmap_lock held. */
static int simpler_check_vmas(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;
	unsigned long pos = start;

	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > pos)
			return -EFAULT;
		if (vma->vm_flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP))
			return -ENXIO;
		if (vma->vm_file && !is_vm_hugetlb_page(vma) &&
		    !shmem_mapping(vma->vm_file->f_mapping))
			return -EOPNOTSUPP;
		if (!(vma->vm_flags & VM_WRITE))
			return -EACCES;
		pos = vma->vm_end;
	}
	return pos < end ? -EFAULT : 0;
}

static int simpler_pin(struct simpler_buf *buf)
{
	unsigned long chunk;
	long n;

	while (buf->npinned < buf->npages) {
		chunk = min(buf->npages - buf->npinned, 4096UL);
		n = pin_user_pages(buf->addr + (buf->npinned << PAGE_SHIFT), chunk,
				   FOLL_WRITE | FOLL_LONGTERM, buf->pages + buf->npinned, NULL);
		if (n <= 0)
			return n ? n : -EFAULT;
		buf->npinned += n;
		atomic64_add(n, &simpler_stats.pinned_pages);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/* Take the buffer out of the domain; caller holds dom->lock. */
static void simpler_buf_unpublish(struct simpler_domain *dom, struct simpler_buf *buf)
{
	lockdep_assert_held(&dom->lock);
	xa_erase(&dom->bufs, buf->handle);
	interval_tree_remove(&buf->itn, &dom->tree);
	dom->nr_bufs--;
}

/* Revoke an unpublished buffer and drop the registration reference. */
static void simpler_buf_revoke(struct simpler_buf *buf)
{
	unsigned long gen;

	spin_lock(&buf->lock);
	WRITE_ONCE(buf->state, SIMPLER_BUF_REVOKED);
	gen = ++buf->zap_gen;
	spin_unlock(&buf->lock);
	simpler_buf_zap(buf, gen);
	if (buf->notifier_on) {
		/* waits for a notifier still running on the buffer */
		mmu_interval_notifier_remove(&buf->mni);
		buf->notifier_on = false;
	}
	simpler_buf_put(buf);
}

static struct simpler_buf *simpler_buf_alloc(struct simpler_domain *dom, u64 addr, u64 len)
{
	struct simpler_buf *buf;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL_ACCOUNT);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	kref_init(&buf->ref);
	spin_lock_init(&buf->lock);
	buf->state = SIMPLER_BUF_PENDING;
	buf->dom = dom;
	buf->addr = addr;
	buf->npages = len >> PAGE_SHIFT;
	buf->itn.start = addr;
	buf->itn.last = addr + len - 1;
	mmgrab(current->mm);
	buf->mm = current->mm;
	atomic64_inc(&simpler_stats.buffers);
	return buf;
}

/*
 * A range of npages mmap offsets no buffer of the domain holds, searched
 * cyclically from where the last one ended.  dom->lock held.
 */
static int simpler_off_find(struct simpler_domain *dom, unsigned long npages,
			    unsigned long *first)
{
	unsigned long start = dom->next_off;
	struct interval_tree_node *n;
	bool wrapped = false;

	for (;;) {
		if (start < SIMPLER_OFF_FIRST || npages > SIMPLER_OFF_END - start) {
			if (wrapped)
				return -ENOSPC;
			wrapped = true;
			start = SIMPLER_OFF_FIRST;
			continue;
		}
		n = interval_tree_iter_first(&dom->offs, start, start + npages - 1);
		if (!n) {
			*first = start;
			return 0;
		}
		start = n->last + 1;
	}
}

/*
 * Reserve the buffer in the domain: limits, overlap, mmap offsets, handle.
 * dom->lock held.  Nothing is allocated before the limits are checked.
 */
static int simpler_buf_reserve(struct simpler_domain *dom, struct simpler_buf *buf)
{
	struct interval_tree_node *n;
	struct simpler_buf *other;
	unsigned long off;
	u32 handle;
	int ret;

	lockdep_assert_held(&dom->lock);
	if (dom->nr_bufs >= READ_ONCE(simpler_max_buffers))
		return -ENOSPC;
	/* only the unpin path lowers pinned_pages without dom->lock */
	if ((u64)atomic_long_read(&dom->pinned_pages) + buf->npages > simpler_pinned_limit_pages())
		return -ENOMEM;
	for (n = interval_tree_iter_first(&dom->tree, buf->itn.start, buf->itn.last); n;
	     n = interval_tree_iter_next(n, buf->itn.start, buf->itn.last)) {
		other = container_of(n, struct simpler_buf, itn);
		if (other->state != SIMPLER_BUF_STALE_ST)
			return -EEXIST;
	}
	ret = simpler_off_find(dom, buf->npages, &off);
	if (ret)
		return ret;
	ret = xa_alloc_cyclic(&dom->bufs, &handle, buf, XA_LIMIT(1, SIMPLER_MAX_HANDLE),
			      &dom->next_handle, GFP_KERNEL_ACCOUNT);
	if (ret < 0)
		return ret == -EBUSY ? -ENOSPC : ret;
	buf->handle = handle;
	buf->pgoff = off;
	buf->off_itn.start = off;
	buf->off_itn.last = off + buf->npages - 1;
	interval_tree_insert(&buf->off_itn, &dom->offs);
	dom->next_off = off + buf->npages;
	interval_tree_insert(&buf->itn, &dom->tree);
	dom->nr_bufs++;
	atomic_long_add(buf->npages, &dom->pinned_pages);
	buf->reserved = true;
	return 0;
}

/*
 * Pinning itself can invalidate the range (COW breaks after a fork,
 * migration out of ZONE_MOVABLE).  Until nothing did since seq, check that
 * the owner maps exactly the pages we pinned.  The buffer is still PENDING:
 * nobody else looks at it.
 */
static int simpler_buf_verify_pending(struct simpler_buf *buf, unsigned long *seq)
{
	bool same;

	while (mmu_interval_read_retry(&buf->mni, *seq)) {
		*seq = mmu_interval_read_begin(&buf->mni);
		if (mmap_read_lock_killable(buf->mm))
			return -EINTR;
		same = simpler_buf_matches(buf);
		mmap_read_unlock(buf->mm);
		atomic64_inc(&simpler_stats.verifies);
		if (!same)
			return -EAGAIN;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
	return 0;
}

int simpler_ioctl_register(struct simpler_domain *dom, void __user *uarg)
{
	struct mm_struct *mm = current->mm;
	struct simpler_register r;
	struct simpler_buf *buf;
	unsigned long seq;
	u32 usize;
	int ret;

	ret = simpler_copy_arg(&r, sizeof(r), SIMPLER_REGISTER_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (r.flags)
		return -EINVAL;
	if (!simpler_is_owner(dom))
		return -EPERM;
	if (!r.len)
		return -ERANGE;
	if (!PAGE_ALIGNED(r.addr) || !PAGE_ALIGNED(r.len))
		return -EINVAL;
	if (r.addr + r.len < r.addr || r.addr + r.len > TASK_SIZE)
		return -EOVERFLOW;
	if (r.len > SIMPLER_BUF_MAX_BYTES)
		return -EFBIG;

	buf = simpler_buf_alloc(dom, r.addr, r.len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	/* every limit before the page array, which is up to 128 MiB */
	ret = simpler_charge(buf);
	if (ret)
		goto err_put;
	mutex_lock(&dom->lock);
	ret = simpler_buf_reserve(dom, buf);
	mutex_unlock(&dom->lock);
	if (ret)
		goto err_put;

	buf->pages = kvmalloc_array(buf->npages, sizeof(*buf->pages), GFP_KERNEL_ACCOUNT);
	if (!buf->pages) {
		ret = -ENOMEM;
		goto err_unpublish;
	}
	/* may take mmap_lock for write (first notifier of this mm): no lock held */
	ret = mmu_interval_notifier_insert(&buf->mni, mm, r.addr, r.len, &simpler_buf_mni_ops);
	if (ret)
		goto err_unpublish;
	buf->notifier_on = true;

	seq = mmu_interval_read_begin(&buf->mni);
	ret = mmap_read_lock_killable(mm);
	if (ret)
		goto err_unpublish;
	/* check and pin under one lock: the VMAs cannot change in between */
	ret = simpler_check_vmas(mm, r.addr, r.addr + r.len);
	if (!ret)
		ret = simpler_pin(buf);
	mmap_read_unlock(mm);
	if (!ret)
		ret = simpler_buf_verify_pending(buf, &seq);
	if (ret)
		goto err_unpublish;

	/* the last step that can fail comes before anyone else can see the buffer */
	r.handle = buf->handle;
	r.mmap_offset = simpler_buf_offset(buf);
	ret = simpler_copy_out(uarg, usize, &r, sizeof(r));
	if (ret)
		goto err_unpublish;

	/*
	 * Publish.  From here UNREGISTER (handles are easy to guess) or the
	 * owner's exit may drop the buffer at any time: do not touch it again.
	 * A change since seq leaves it SUSPECT, settled on its next use.
	 */
	atomic64_inc(&simpler_stats.registers);
	spin_lock(&buf->lock);
	WRITE_ONCE(buf->state, mmu_interval_read_retry(&buf->mni, seq) ? SIMPLER_BUF_SUSPECT :
									 SIMPLER_BUF_LIVE);
	spin_unlock(&buf->lock);
	return 0;

err_unpublish:
	mutex_lock(&dom->lock);
	simpler_buf_unpublish(dom, buf);
	mutex_unlock(&dom->lock);
	simpler_buf_revoke(buf);
	return ret;
err_put:
	simpler_buf_put(buf);
	return ret;
}

/* ---- UNREGISTER ---- */

int simpler_ioctl_unregister(struct simpler_domain *dom, void __user *uarg)
{
	struct simpler_unregister u;
	struct simpler_buf *buf;
	u32 usize;
	int ret;

	ret = simpler_copy_arg(&u, sizeof(u), SIMPLER_UNREGISTER_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (u.flags)
		return -EINVAL;
	if (!simpler_is_owner(dom))
		return -EPERM;
	if (!u.handle || u.handle > SIMPLER_MAX_HANDLE)
		return -ENOENT;

	mutex_lock(&dom->lock);
	buf = xa_load(&dom->bufs, u.handle);
	if (!buf || buf->state == SIMPLER_BUF_PENDING) {
		mutex_unlock(&dom->lock);
		return -ENOENT;
	}
	simpler_buf_unpublish(dom, buf);
	mutex_unlock(&dom->lock);

	simpler_buf_revoke(buf);
	atomic64_inc(&simpler_stats.unregisters);
	return 0;
}

void simpler_domain_unregister_all(struct simpler_domain *dom)
{
	struct simpler_buf *buf;
	unsigned long handle;

	for (;;) {
		mutex_lock(&dom->lock);
		buf = NULL;
		xa_for_each(&dom->bufs, handle, buf) {
			if (buf->state != SIMPLER_BUF_PENDING)
				break;
		}
		if (buf)
			simpler_buf_unpublish(dom, buf);
		mutex_unlock(&dom->lock);
		if (!buf)
			return;
		simpler_buf_revoke(buf);
		atomic64_inc(&simpler_stats.unregisters);
	}
}

/* The owner's mm is being torn down: nobody will unregister, so we do. */
void simpler_reap_work(struct work_struct *work)
{
	simpler_domain_unregister_all(container_of(work, struct simpler_domain, reap_work));
}

/* ---- LOOKUP ---- */

int simpler_ioctl_lookup(struct simpler_domain *dom, void __user *uarg)
{
	enum simpler_buf_state state;
	struct simpler_lookup l;
	struct simpler_buf *buf;
	bool allowed;
	u32 usize;
	int ret;

	ret = simpler_copy_arg(&l, sizeof(l), SIMPLER_LOOKUP_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (l.flags || l.pad)
		return -EINVAL;

	mutex_lock(&dom->lock);
	allowed = simpler_is_owner(dom) || simpler_member_find(dom, current->mm);
	mutex_unlock(&dom->lock);
	if (!allowed)
		return -EPERM;

	buf = simpler_buf_find_get(dom, l.addr);
	if (!buf)
		return -ENOENT;
	state = simpler_buf_settle(buf, false);
	if (state == SIMPLER_BUF_SUSPECT) {
		simpler_buf_put(buf);
		return -EINTR;
	}

	l.handle = buf->handle;
	l.offset = l.addr - buf->addr;
	l.mmap_offset = simpler_buf_offset(buf);
	l.buf_addr = buf->addr;
	l.buf_len = (u64)buf->npages << PAGE_SHIFT;
	l.buf_flags = state == SIMPLER_BUF_LIVE ? 0 : SIMPLER_BUF_STALE;
	simpler_buf_put(buf);

	ret = simpler_copy_out(uarg, usize, &l, sizeof(l));
	if (ret)
		return ret;
	return l.buf_flags & SIMPLER_BUF_STALE ? -ESTALE : 0;
}
