/* SPDX-License-Identifier: GPL-2.0 */
/*
 * simpler.ko internals: the domain (one per open file), registered host
 * buffers, members and their fork-time VMA identity tables.
 *
 * Lock order, outermost first:
 *   mmap_lock of the faulting/forking/unmapping mm
 *     -> mmap_lock of a domain owner (nested; only the buffer fault path)
 *     -> simpler_domain.lock
 *     -> i_mmap_rwsem of the domain's address_space (unmap_mapping_range)
 * simpler_buf.lock is a leaf spinlock (the mmu notifier takes it, maybe from
 * reclaim): nothing allocates or sleeps under it.
 * No ioctl takes mmap_lock while holding domain.lock.
 */
#ifndef SIMPLER_INTERNAL_H
#define SIMPLER_INTERNAL_H

#include <linux/bits.h>
#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <linux/simpler.h>

/*
 * mmap offsets, in pages, of one domain's address_space: the sentinel page is
 * at 0; each buffer gets a range of its own in [SIMPLER_OFF_FIRST,
 * SIMPLER_OFF_END), cyclically, and keeps it until it is freed, so a zap of
 * one buffer never touches another's mappings.  The whole space fits the
 * 32-bit page offset of mmap2(), so compat members can map every buffer.
 */
#define SIMPLER_OFF_FIRST	1UL
#define SIMPLER_OFF_END		(1UL << 32)
#define SIMPLER_BUF_MAX_BYTES	(64ULL << 30)
/* handles are per domain, handed out cyclically */
#define SIMPLER_MAX_HANDLE	((1U << 31) - 1)

enum simpler_buf_state {
	SIMPLER_BUF_PENDING,	/* being pinned; invisible to LOOKUP/QUERY/mmap */
	SIMPLER_BUF_LIVE,	/* owner maps exactly the pinned pages */
	SIMPLER_BUF_SUSPECT,	/* an invalidation hit the range; verify before use */
	SIMPLER_BUF_STALE_ST,	/* owner no longer maps the pinned pages */
	SIMPLER_BUF_REVOKED,	/* unregistered; waiting for the last mapping */
};

struct simpler_domain;

struct simpler_buf {
	struct kref ref;		/* registration, member VMAs, zap requests, transient users */
	struct simpler_domain *dom;	/* outlives the buffer, see simpler_release() */
	u64 handle;
	unsigned long addr;		/* owner address */
	unsigned long npages;
	unsigned long npinned;		/* pages[0..npinned) hold a FOLL_PIN */
	pgoff_t pgoff;			/* first page offset of the member mapping */
	struct page **pages;
	struct interval_tree_node itn;	/* dom->tree, by owner address, under dom->lock */
	struct interval_tree_node off_itn; /* dom->offs, by mmap offset, under dom->lock */
	struct mmu_interval_notifier mni;
	bool notifier_on;
	bool reserved;			/* counted in dom->pinned_pages, holds its offsets */
	bool charged;
	struct mm_struct *mm;		/* owner mm (mmgrab) for pinned_vm */
	struct user_struct *user;	/* charged user, NULL with CAP_IPC_LOCK */
	/* protects state and the zap generations; a leaf lock */
	spinlock_t lock;
	enum simpler_buf_state state;	/* written under lock, READ_ONCE outside */
	/*
	 * zap_gen counts requests to remove every member PTE of the buffer
	 * (a fault that raced with one takes its PTEs back); zap_done is the
	 * newest request known to be complete.  zap_done != zap_gen: a zap is
	 * owed, and nobody whose call changed the owner's range may return to
	 * user space before it is done.
	 */
	unsigned long zap_gen;
	unsigned long zap_done;
	bool zap_queued;		/* on dom->zaps, holding a reference */
	struct llist_node zap_node;
	atomic_t nr_maps;		/* member VMAs, for debugfs */
};

/* one VMA of the owner at the moment a member was forked */
struct simpler_vma_ident {
	unsigned long start, end;
	unsigned long flags;		/* vm_flags at fork */
	unsigned long pgoff;
	struct file *file;		/* reference held; NULL: anonymous */
	dev_t dev;
	unsigned long ino;
};

struct simpler_member {
	struct list_head node;		/* dom->members, under dom->lock */
	struct mm_struct *mm;		/* the child mm; valid while listed */
	u32 id;
	unsigned int nr_vmas;		/* sentinel VMAs of mm naming us */
	unsigned int nr_ident;
	struct simpler_vma_ident *ident; /* NULL if the snapshot failed */
};

struct simpler_domain {
	/* protects bufs, tree, offs, members, nr_* below; nests inside mmap_lock */
	struct mutex lock;
	struct mm_struct *owner_mm;	/* mmgrab; identity of the owner */
	struct pid *owner_pid;		/* shown in the reader's pid namespace */
	u64 id;
	struct xarray bufs;		/* handle -> buffer (the registration ref) */
	u32 next_handle;		/* cyclic handle allocation */
	struct rb_root_cached tree;	/* registered ranges by owner address */
	struct rb_root_cached offs;	/* mmap offsets of every buffer not yet freed */
	unsigned long next_off;		/* cyclic offset allocation */
	unsigned int nr_bufs;
	atomic_long_t pinned_pages;	/* pinned for this domain, until unpinned */
	struct list_head members;
	unsigned int nr_members;
	u32 next_member_id;
	struct work_struct reap_work;	/* unregister all once the owner mm is gone */
	struct llist_head zaps;		/* buffers the worker must zap */
	struct work_struct zap_work;	/* zaps that could not run as task work */
	wait_queue_head_t zap_wq;	/* a zap finished (zap_done moved) */
	struct file *file;		/* the open file this domain is */
	struct inode *inode;		/* its own address_space: member mappings */
	struct dentry *dbg;
};

/* module-wide state */
struct simpler_stats {
	atomic64_t pinned_pages;
	atomic64_t buffers;
	atomic64_t domains;
	atomic64_t members;
	atomic64_t registers;
	atomic64_t unregisters;
	atomic64_t faults;
	atomic64_t invalidations;
	atomic64_t verifies;
	atomic64_t stale;
	atomic64_t forks;
	atomic64_t zap_fallbacks;	/* zaps handed to the worker */
};

extern struct simpler_stats simpler_stats;
extern struct page *simpler_sentinel_page;
extern unsigned long simpler_max_pinned_mb;
extern unsigned int simpler_max_buffers;

/* main.c */
bool simpler_is_owner(const struct simpler_domain *dom);
struct simpler_member *simpler_member_find(struct simpler_domain *dom, struct mm_struct *mm);
int simpler_copy_arg(void *karg, size_t ksize, size_t ver0, const void __user *uarg, u32 *usize);
int simpler_copy_out(void __user *uarg, u32 usize, const void *karg, size_t ksize);
struct address_space *simpler_dom_mapping(const struct simpler_domain *dom);

/* hostbuf.c */
int simpler_ioctl_register(struct simpler_domain *dom, void __user *uarg);
int simpler_ioctl_unregister(struct simpler_domain *dom, void __user *uarg);
int simpler_ioctl_lookup(struct simpler_domain *dom, void __user *uarg);
int simpler_buf_mmap(struct simpler_domain *dom, struct vm_area_struct *vma);
void simpler_domain_unregister_all(struct simpler_domain *dom);
void simpler_reap_work(struct work_struct *work);
void simpler_zap_work(struct work_struct *work);
void simpler_zap_drain(struct simpler_domain *dom);
struct simpler_buf *simpler_buf_find_get(struct simpler_domain *dom, unsigned long addr);
enum simpler_buf_state simpler_buf_settle(struct simpler_buf *buf, bool mm_locked);
void simpler_buf_put(struct simpler_buf *buf);
u64 simpler_pinned_limit_pages(void);

/* forktrack.c */
int simpler_sentinel_mmap(struct simpler_domain *dom, struct vm_area_struct *vma);
int simpler_ioctl_query(struct simpler_domain *dom, void __user *uarg);
pid_t simpler_member_pid(const struct simpler_member *m);

/* debugfs.c */
void simpler_debugfs_init(void);
void simpler_debugfs_exit(void);
void simpler_debugfs_domain_add(struct simpler_domain *dom);
void simpler_debugfs_domain_remove(struct simpler_domain *dom);

#endif /* SIMPLER_INTERNAL_H */
