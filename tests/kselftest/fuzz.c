// SPDX-License-Identifier: GPL-2.0
/*
 * A random-operation fuzzer for simpler.ko, and the contract it checks.
 *
 * Several owner processes, each with two threads, open domains and do random
 * things with random and boundary arguments: every ioctl (known and unknown
 * commands, short, long and garbage-tailed structs, bad pointers, foreign
 * handles), REGISTER of anonymous, memfd and hugetlb ranges, UNREGISTER,
 * munmap, mremap, MADV_DONTNEED, truncation, mprotect, close and reopen of
 * the device, forks of members.  Members look buffers up, map them (at the
 * owner's address or anywhere), read and write them, fork grandchildren,
 * exec, reopen the device and exit at random; owners die at random too.
 *
 * Every page an owner registers starts with a header: its owner, its address
 * in the owner and the generation of its region.  A region's generation is a
 * seqlock: odd while the owner changes the region's pages, even once they
 * are rewritten.  A member read that succeeds must find the right owner and
 * address, and, if the generation was the same even value before and after
 * the read, that generation: a page the owner no longer maps, read after the
 * owner's call returned, is a stale page served silently.
 *
 * At the end: no pin outstanding, the module's counters back where they
 * were, and no kernel complaint.  The seed is printed; the same seed replays
 * the same choices (not the same interleaving).
 *
 * SIMPLER_FUZZ_SEED (default: the time), SIMPLER_FUZZ_SECONDS (30),
 * SIMPLER_FUZZ_OPS (per owner thread, default unbounded),
 * SIMPLER_FUZZ_OWNERS (3).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/uio.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif

#define NSLOTS		12
#define MAXHANDLES	4
#define MAXPAGES	48
#define MAXMEMBERS	3
#define MEMBER_MAPS	6
#define EXEC_FD		200
#define FZ_MAGIC	0x46555a5a53504d4cULL	/* "LMPSZZUF" */
#define HUGE		(2 * SX_MIB)

/* ---- shared by every process of the run ---- */

enum { OP_INFO, OP_REGISTER, OP_UNREGISTER, OP_QUERY, OP_LOOKUP, OP_GARBAGE, OP_ALLOC,
       OP_FREE, OP_DONTNEED, OP_MREMAP, OP_TRUNCATE, OP_MPROTECT, OP_REOPEN, OP_FORK,
       OP_PAIR, OP_M_LOOKUP, OP_M_MAP, OP_M_TOUCH, OP_M_UNMAP, OP_M_GRANDCHILD,
       OP_M_EXEC, OP_M_REOPEN, OP_M_EXIT, OP_OWNER_DEATH, NR_OPS };

static const char *const op_names[NR_OPS] = {
	"info", "register", "unregister", "query", "lookup", "garbage", "alloc", "free",
	"dontneed", "mremap", "truncate", "mprotect", "reopen", "fork", "pair-invalidate",
	"m-lookup", "m-map", "m-touch", "m-unmap", "m-grandchild", "m-exec", "m-reopen",
	"m-exit", "owner-death",
};

struct fz_run {
	atomic_int stop;
	uint64_t seed;
	atomic_ulong ops[NR_OPS];
	atomic_ulong pages_checked, sigbus, stale_judged;
	atomic_int violations;
	atomic_int have_first;
	char first[1024];
};

static struct fz_run *run;

static void violation(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&run->violations, 1);
	if (atomic_exchange(&run->have_first, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(run->first, sizeof(run->first), fmt, ap);
	va_end(ap);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool chance(uint64_t *s, int pct)
{
	return (int)(rnd(s) % 100) < pct;
}

/* errnos the module (or the fd table, racing a reopen) may answer with */
static bool clean_errno(int ret)
{
	switch (-ret) {
	case 0: case EINVAL: case E2BIG: case EFAULT: case ERANGE: case EOVERFLOW: case ENXIO:
	case EOPNOTSUPP: case EACCES: case EEXIST: case ENOMEM: case ENOSPC: case EPERM:
	case EAGAIN: case EFBIG: case ENOENT: case ESTALE: case ENOTTY: case EBADF: case EINTR:
		return true;
	}
	return false;
}

static void count(int op)
{
	atomic_fetch_add(&run->ops[op], 1);
}

/* ---- one owner process: its regions, shared with its members ---- */

enum kind { K_ANON, K_MEMFD, K_HUGETLB };

struct fz_slot {
	atomic_int busy;		/* an owner thread works on it */
	_Atomic uint64_t addr;		/* 0: empty */
	_Atomic uint64_t len;
	atomic_ulong gen;		/* seqlock: odd while the pages change */
	int kind, mfd;
	uint64_t handles[MAXHANDLES];	/* of the domain they were registered in */
	uint64_t handle_dom[MAXHANDLES];
	atomic_int last_op;		/* the last owner operation on the slot */
};

struct fz_owner {
	uint64_t token;			/* in every page header */
	atomic_int stop;		/* the owner is done: its members end too */
	atomic_ulong gens;		/* generations are unique within the owner */
	atomic_int fd;			/* the current domain */
	_Atomic uint64_t dom_id;
	void *_Atomic sentinel;
	atomic_int members;
	atomic_ulong moves_begun;	/* munmap and mremap of regions: see move_begin() */
	atomic_ulong moves_done;
	atomic_int pair_slot;		/* PAIR_NONE, PAIR_BUSY, or a slot to hit too */
	atomic_int pair_done;		/* the other thread's madvise has returned */
	struct fz_slot slots[NSLOTS];
};

static struct fz_owner *own;

/* pair_slot besides a slot: no pair, or one being posted or worked on */
enum { PAIR_NONE = -1, PAIR_BUSY = -2 };

struct fz_hdr {
	uint64_t magic, vaddr, gen, check, scratch;
};

static uint64_t hdr_check(uint64_t magic, uint64_t vaddr, uint64_t gen)
{
	return sx_pattern(magic ^ gen, vaddr);
}

static void write_headers(uint64_t addr, uint64_t len, uint64_t gen)
{
	struct fz_hdr *h;
	uint64_t o;

	for (o = 0; o < len; o += SX_PAGE) {
		h = (struct fz_hdr *)(uintptr_t)(addr + o);
		h->magic = FZ_MAGIC ^ own->token;
		h->vaddr = addr + o;
		h->gen = gen;
		h->check = hdr_check(h->magic, addr + o, gen);
	}
}

/* the slot's pages are about to change: members must not judge them now */
static void change_begin(struct fz_slot *sl)
{
	atomic_fetch_or(&sl->gen, 1);
}

/* rewrite every header with a new generation, then publish it (even) */
static void change_end(struct fz_slot *sl)
{
	uint64_t g = 2 * atomic_fetch_add(&own->gens, 1) + 2;

	if (atomic_load(&sl->addr))
		write_headers(atomic_load(&sl->addr), atomic_load(&sl->len), g);
	atomic_store(&sl->gen, g);
}

/*
 * A region's addresses are about to be unmapped (munmap, mremap).  The
 * address range is free for the other thread's mmap() as soon as the
 * kernel has taken the VMA out, but the zap of the members' PTEs runs on
 * this thread's way back to user space: until then a member may still
 * read the old buffer's page at an address that a new region, with a
 * stable generation of its own, already covers.  The move is not over
 * before the call returns; members judge no page while one is under way.
 */
static void move_begin(void)
{
	atomic_fetch_add(&own->moves_begun, 1);
}

static void move_end(void)
{
	atomic_fetch_add(&own->moves_done, 1);
}

static bool slot_lock(struct fz_slot *sl)
{
	int zero = 0;

	return atomic_compare_exchange_strong(&sl->busy, &zero, 1);
}

static void slot_unlock(struct fz_slot *sl)
{
	atomic_store(&sl->busy, 0);
}

static int dev_fd(void)
{
	return atomic_load(&own->fd);
}

/* ---- argument generators ---- */

static uint64_t any_addr(uint64_t *s)
{
	struct fz_slot *sl = &own->slots[rnd(s) % NSLOTS];
	uint64_t a = atomic_load(&sl->addr), l = atomic_load(&sl->len);

	switch (rnd(s) % 10) {
	case 0: return 0;
	case 1: return rnd(s);
	case 2: return 0x00007ffffffff000ULL - SX_PAGE * (rnd(s) % 3);
	case 3: return 0xffffffff81000000ULL;
	case 4: return (a ? a : SX_PAGE) + 1 + rnd(s) % 4095;
	default:
		if (!a)
			return rnd(s) & 0x7ffffffff000ULL;
		return a + (rnd(s) % (l / SX_PAGE)) * SX_PAGE;
	}
}

static uint64_t any_len(uint64_t *s)
{
	switch (rnd(s) % 8) {
	case 0: return 0;
	case 1: return ~0ULL - SX_PAGE + 1;
	case 2: return 1ULL << (30 + rnd(s) % 18);
	case 3: return 1 + rnd(s) % SX_PAGE;
	default: return (1 + rnd(s) % MAXPAGES) * SX_PAGE;
	}
}

/* a struct size to claim: mostly right, sometimes short, long or absurd */
static uint32_t any_size(uint64_t *s, uint32_t right)
{
	switch (rnd(s) % 12) {
	case 0: return 0;
	case 1: return right - 8;
	case 2: return right + 8;	/* zero tail: accepted */
	case 3: return SX_PAGE + 8;
	case 4: return rnd(s);
	default: return right;
	}
}

/* an argument buffer: two pages, the tail after the struct sometimes dirty */
static void *arg_buf(uint64_t *s, void *page2, uint32_t right)
{
	memset(page2, 0, 2 * SX_PAGE);
	if (chance(s, 5))
		((char *)page2)[right + rnd(s) % 16] = 1;	/* E2BIG */
	switch (rnd(s) % 20) {
	case 0: return NULL;
	case 1: return (char *)page2 + 2 * SX_PAGE - 4;	/* runs off the end */
	default: return page2;
	}
}

/* ---- owner operations ---- */

static void do_ioctl(uint64_t *s, int op, unsigned long cmd, void *arg, void *page2,
		     uint32_t right)
{
	bool ro = arg == page2 && chance(s, 5);
	int ret, fd = dev_fd();

	if (arg)
		((uint32_t *)arg)[0] = chance(s, 10) ? any_size(s, right) : right;
	/* the copy back to user space fails */
	if (ro)
		mprotect(page2, 2 * SX_PAGE, PROT_READ);
	ret = sx_ioctl_once(fd, cmd, arg);
	if (ro)
		mprotect(page2, 2 * SX_PAGE, PROT_READ | PROT_WRITE);
	count(op);
	if (!clean_errno(ret))
		violation("ioctl %#lx answered %d", cmd, ret);
}

static void op_ioctl(uint64_t *s, void *page2)
{
	struct fz_slot *sl = &own->slots[rnd(s) % NSLOTS];
	union {
		struct simpler_register r;
		struct simpler_unregister u;
		struct simpler_query q;
		struct simpler_lookup l;
	} *a;
	unsigned long cmd;
	int op = rnd(s) % 6;
	uint32_t right;

	switch (op) {
	case OP_INFO:
		cmd = SIMPLER_IOC_INFO;
		right = sizeof(struct simpler_info);
		a = arg_buf(s, page2, right);
		break;
	case OP_REGISTER:
		cmd = SIMPLER_IOC_REGISTER;
		right = sizeof(struct simpler_register);
		a = arg_buf(s, page2, right);
		if (a && a == page2) {
			a->r.addr = any_addr(s);
			a->r.len = any_len(s);
			a->r.flags = chance(s, 5) ? rnd(s) : 0;
		}
		break;
	case OP_UNREGISTER:
		cmd = SIMPLER_IOC_UNREGISTER;
		right = sizeof(struct simpler_unregister);
		a = arg_buf(s, page2, right);
		if (a && a == page2)
			a->u.handle = chance(s, 50) ? sl->handles[rnd(s) % MAXHANDLES] :
				      chance(s, 50) ? rnd(s) % 64 : rnd(s);
		break;
	case OP_QUERY:
		cmd = SIMPLER_IOC_QUERY;
		right = sizeof(struct simpler_query);
		a = arg_buf(s, page2, right);
		if (a && a == page2) {
			a->q.addr = any_addr(s);
			a->q.len = any_len(s);
			a->q.pad = chance(s, 5);
		}
		break;
	case OP_LOOKUP:
		cmd = SIMPLER_IOC_LOOKUP;
		right = sizeof(struct simpler_lookup);
		a = arg_buf(s, page2, right);
		if (a && a == page2)
			a->l.addr = any_addr(s);
		break;
	default:
		/* unknown commands, other magics, the size bits of known ones */
		cmd = chance(s, 50) ? _IOC(rnd(s) % 4, SIMPLER_IOC_MAGIC, rnd(s) % 256, rnd(s) % 512) :
				      (unsigned long)rnd(s) & 0xffffffff;
		right = 64;
		a = arg_buf(s, page2, right);
		break;
	}
	do_ioctl(s, op, cmd, a, page2, right);
}

static void *map_kind(uint64_t *s, int kind, uint64_t len, int *mfd)
{
	int flags = MAP_SHARED;
	void *p;

	*mfd = -1;
	if (kind == K_ANON)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else if (kind == K_HUGETLB)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	else {
		*mfd = memfd_create("fuzz", MFD_CLOEXEC);
		if (*mfd < 0 || ftruncate(*mfd, len))
			return MAP_FAILED;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, *mfd, 0);
	}
	if (p != MAP_FAILED && kind == K_ANON && chance(s, 50))
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void slot_free(struct fz_slot *sl)
{
	uint64_t a = atomic_load(&sl->addr), l = atomic_load(&sl->len);

	if (!a)
		return;
	change_begin(sl);
	move_begin();
	munmap((void *)(uintptr_t)a, l);
	move_end();
	atomic_store(&sl->addr, 0);
	change_end(sl);
	if (sl->mfd >= 0)
		close(sl->mfd);
	sl->mfd = -1;
}

static void op_alloc(uint64_t *s, struct fz_slot *sl)
{
	int kind = rnd(s) % 10 == 0 ? K_HUGETLB : rnd(s) % 3 == 0 ? K_MEMFD : K_ANON;
	uint64_t len = kind == K_HUGETLB ? HUGE : (1 + rnd(s) % MAXPAGES) * SX_PAGE;
	void *p;

	slot_free(sl);
	p = map_kind(s, kind, len, &sl->mfd);
	count(OP_ALLOC);
	if (p == MAP_FAILED) {
		if (sl->mfd >= 0)
			close(sl->mfd);
		sl->mfd = -1;
		return;
	}
	change_begin(sl);
	sl->kind = kind;
	atomic_store(&sl->len, len);
	atomic_store(&sl->addr, (uintptr_t)p);
	change_end(sl);
}

static void op_register(uint64_t *s, struct fz_slot *sl)
{
	uint64_t a = atomic_load(&sl->addr), l = atomic_load(&sl->len), off = 0, h, mo;
	int fd = dev_fd(), i, ret;

	if (!a)
		return;
	if (sl->kind != K_HUGETLB && chance(s, 50)) {
		off = (rnd(s) % (l / SX_PAGE)) * SX_PAGE;
		l = (1 + rnd(s) % ((l - off) / SX_PAGE)) * SX_PAGE;
	}
	ret = sx_register(fd, (void *)(uintptr_t)(a + off), l, &h, &mo);
	count(OP_REGISTER);
	if (!clean_errno(ret))
		violation("REGISTER of a region answered %d", ret);
	if (ret)
		return;
	if (!h || (mo & (SX_PAGE - 1)) || mo >= (1ULL << 44))
		violation("REGISTER gave handle %llu offset %#llx", (unsigned long long)h,
			  (unsigned long long)mo);
	i = rnd(s) % MAXHANDLES;
	if (sl->handles[i])
		sx_unregister(fd, sl->handles[i]);	/* any domain: ENOENT is fine */
	sl->handles[i] = h;
	sl->handle_dom[i] = atomic_load(&own->dom_id);
}

static void op_unregister(uint64_t *s, struct fz_slot *sl)
{
	int i = rnd(s) % MAXHANDLES, ret;

	if (!sl->handles[i])
		return;
	ret = sx_unregister(dev_fd(), sl->handles[i]);
	count(OP_UNREGISTER);
	if (ret != 0 && ret != -ENOENT && ret != -EBADF && ret != -ENOTTY && ret != -EPERM)
		violation("UNREGISTER of a known handle answered %d", ret);
	sl->handles[i] = 0;
}

/* change the pages under registered ranges; the generation tells members */
static void op_change(uint64_t *s, struct fz_slot *sl, int op)
{
	uint64_t a = atomic_load(&sl->addr), l = atomic_load(&sl->len), off, n;
	void *p, *to;

	if (!a)
		return;
	count(op);
	switch (op) {
	case OP_DONTNEED:
		off = sl->kind == K_HUGETLB ? 0 : (rnd(s) % (l / SX_PAGE)) * SX_PAGE;
		n = sl->kind == K_HUGETLB ? l : (1 + rnd(s) % ((l - off) / SX_PAGE)) * SX_PAGE;
		change_begin(sl);
		madvise((void *)(uintptr_t)(a + off), n, MADV_DONTNEED);
		/*
		 * The huge page comes back from the pool, which pinned stale
		 * buffers and the members' fork-time copies of pinned pages
		 * may have emptied: the write in change_end() would get
		 * SIGBUS.  Fault it in where that is an error; without a page
		 * the region is gone.
		 */
		if (sl->kind == K_HUGETLB &&
		    madvise((void *)(uintptr_t)a, l, MADV_POPULATE_WRITE)) {
			move_begin();
			munmap((void *)(uintptr_t)a, l);
			move_end();
			atomic_store(&sl->addr, 0);
		}
		change_end(sl);
		break;
	case OP_MREMAP:
		if (sl->kind == K_HUGETLB)
			return;
		/* move it onto a place of its own */
		to = mmap(NULL, l, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (to == MAP_FAILED)
			return;
		change_begin(sl);
		move_begin();
		p = mremap((void *)(uintptr_t)a, l, l, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		move_end();
		if (p != MAP_FAILED)
			atomic_store(&sl->addr, (uintptr_t)p);
		else
			munmap(to, l);
		change_end(sl);
		break;
	case OP_TRUNCATE:
		if (sl->kind != K_MEMFD)
			return;
		change_begin(sl);
		if (ftruncate(sl->mfd, 0) || ftruncate(sl->mfd, l))
			violation("truncating a memfd: %d", errno);
		change_end(sl);
		break;
	case OP_MPROTECT:
		/* same pages: registrations stay live */
		off = (rnd(s) % (l / SX_PAGE)) * SX_PAGE;
		mprotect((void *)(uintptr_t)(a + off), SX_PAGE, PROT_READ);
		mprotect((void *)(uintptr_t)(a + off), SX_PAGE, PROT_READ | PROT_WRITE);
		break;
	}
}

/*
 * Both threads of the owner invalidate one buffer at once.  The other
 * thread's madvise is part of the change: it must have returned before
 * change_end() rewrites the headers, or it would wipe them under an even
 * generation (and a later REGISTER would pin the zero pages it leaves).
 */
static void op_pair(uint64_t *s, struct fz_slot *sl)
{
	uint64_t a = atomic_load(&sl->addr), l = atomic_load(&sl->len);
	int i = (int)(sl - own->slots), none = PAIR_NONE, n;

	if (!a || sl->kind == K_HUGETLB || l < 2 * SX_PAGE)
		return;
	/* one pair at a time: the other thread may be posting one too */
	if (!atomic_compare_exchange_strong(&own->pair_slot, &none, PAIR_BUSY))
		return;
	count(OP_PAIR);
	change_begin(sl);
	atomic_store(&own->pair_done, 0);
	atomic_store(&own->pair_slot, i);
	madvise((void *)(uintptr_t)a, l / 2, MADV_DONTNEED);
	for (n = 0; n < 2000 && !atomic_load(&own->pair_done); n++)
		usleep(50);
	/* not taken yet: withdraw it; taken: wait until the other half is done */
	if (!atomic_compare_exchange_strong(&own->pair_slot, &i, PAIR_NONE)) {
		while (!atomic_load(&own->pair_done))
			usleep(50);
		atomic_store(&own->pair_slot, PAIR_NONE);
	}
	change_end(sl);
}

/* the other thread's half of a pair, if one is posted */
static void pair_help(void)
{
	int i = atomic_load(&own->pair_slot);
	struct fz_slot *sl;
	uint64_t a, l;

	if (i < 0 || !atomic_compare_exchange_strong(&own->pair_slot, &i, PAIR_BUSY))
		return;
	/* the posting thread holds the slot and waits for us: it cannot change */
	sl = &own->slots[i];
	a = atomic_load(&sl->addr);
	l = atomic_load(&sl->len);
	madvise((void *)(uintptr_t)(a + l / 2), l - l / 2, MADV_DONTNEED);
	atomic_store(&own->pair_done, 1);
}

/* a new domain replaces the current one (members keep the old one alive) */
static void op_reopen(uint64_t *s)
{
	struct simpler_info info;
	int fd = sx_open(), old;
	void *sent;

	count(OP_REOPEN);
	if (fd < 0)
		return;
	sent = chance(s, 90) ? sx_map_sentinel(fd) : NULL;
	if (!sx_info(fd, &info))
		atomic_store(&own->dom_id, info.domain_id);
	old = atomic_exchange(&own->fd, fd);
	if (chance(s, 70)) {
		void *os = atomic_exchange(&own->sentinel, sent);

		if (os)
			munmap(os, SX_PAGE);
	}
	close(old);
}

/* ---- members ---- */

struct member_map {
	volatile uint64_t *p;
	uint64_t len, buf_addr;
};

static const char *const kind_names[] = { "anon", "memfd", "hugetlb" };

/*
 * Say what the member read and what the owner reads there itself (a parent
 * may be read by a root child; "unreadable" otherwise): when both agree the
 * module served the owner's page and the fuzzer's own bookkeeping is wrong.
 */
static void member_violation(struct member_map *m, const char *what, uint64_t e, int k,
			     uint64_t gen, const uint64_t *v)
{
	struct fz_slot *sl = &own->slots[k];
	uint64_t ov[4] = { 0 };
	struct iovec li = { ov, sizeof(ov) }, ri = { (void *)(uintptr_t)e, sizeof(ov) };
	bool readable = process_vm_readv(getppid(), &li, 1, &ri, 1, 0) == sizeof(ov);
	bool same_gen = atomic_load(&sl->gen) == gen;
	char owner[128] = "unreadable";

	if (readable)
		snprintf(owner, sizeof(owner), "magic %#llx vaddr %#llx gen %llu%s",
			 (unsigned long long)ov[0], (unsigned long long)ov[1],
			 (unsigned long long)ov[2], same_gen ? "" : " (region changed since)");
	violation("member read a %s page at %#llx: magic %#llx vaddr %#llx gen %llu; region: "
		  "slot %d, %s, [%#llx, +%llu), generation %llu, last op %s; member mapping at %s; "
		  "the owner reads %s", what, (unsigned long long)e, (unsigned long long)v[0],
		  (unsigned long long)v[1], (unsigned long long)v[2], k, kind_names[sl->kind],
		  (unsigned long long)atomic_load(&sl->addr),
		  (unsigned long long)atomic_load(&sl->len), (unsigned long long)gen,
		  op_names[atomic_load(&sl->last_op)],
		  (uintptr_t)m->p == m->buf_addr ? "the owner's address" : "another address", owner);
}

/*
 * Read the header of page j of a member mapping.  The page is expected at
 * owner address e; if a region holds e and its generation was the same even
 * value before and after the read, the page must be that region's, of that
 * generation.
 */
static void member_check_page(struct member_map *m, uint64_t j)
{
	volatile uint64_t *w = m->p + j * SX_PAGE / 8;
	uint64_t t1[NSLOTS], t2[NSLOTS], v[4], e = m->buf_addr + j * SX_PAGE, a, d1, b1, b2;
	int i, k = -1, sig = 0;

	/* done before begun: equal means no move was under way at the second load */
	d1 = atomic_load(&own->moves_done);
	b1 = atomic_load(&own->moves_begun);
	for (i = 0; i < NSLOTS; i++)
		t1[i] = atomic_load(&own->slots[i].gen);
	for (i = 0; i < 4 && !sig; i++)
		sig = sx_probe_read(w + i, &v[i]);
	b2 = atomic_load(&own->moves_begun);
	for (i = 0; i < NSLOTS; i++) {
		t2[i] = atomic_load(&own->slots[i].gen);
		a = atomic_load(&own->slots[i].addr);
		if (a && e >= a && e < a + atomic_load(&own->slots[i].len))
			k = i;
	}
	count(OP_M_TOUCH);
	if (sig) {
		atomic_fetch_add(&run->sigbus, 1);
		if (sig != SIGBUS)
			violation("member read got signal %d", sig);
		return;
	}
	atomic_fetch_add(&run->pages_checked, 1);
	sx_probe_write(w + 4, getpid());	/* the scratch word */
	if (k < 0 || t1[k] != t2[k] || (t1[k] & 1))
		return;		/* no region there, or it changed meanwhile */
	if (b1 != d1 || b2 != b1)
		return;		/* a region moved meanwhile: maybe the one that was here */
	atomic_fetch_add(&run->stale_judged, 1);
	if (v[0] != (FZ_MAGIC ^ own->token) || v[1] != e || v[3] != hdr_check(v[0], v[1], v[2]))
		member_violation(m, "wrong", e, k, t1[k], v);
	else if (v[2] != t1[k])
		member_violation(m, "stale", e, k, t1[k], v);
}

/* what a process that is not a member may do with the domain's fd: nothing */
static void stranger_check(int fd, const char *who)
{
	struct simpler_info info;
	struct simpler_lookup l;
	int ret = sx_info(fd, &info);

	if (ret == 0 && (info.role != SIMPLER_ROLE_NONE || info.nr_buffers || info.nr_members))
		violation("%s: INFO role %u, %u buffers, %u members", who, info.role,
			  info.nr_buffers, info.nr_members);
	ret = sx_lookup(fd, (void *)(uintptr_t)atomic_load(&own->slots[0].addr), &l);
	if (ret != -EPERM && ret != -EBADF && ret != -ENOTTY)
		violation("%s: LOOKUP answered %d", who, ret);
}

static void member_exec(int fd)
{
	char arg[16];

	if (dup2(fd, EXEC_FD) != EXEC_FD)
		return;
	snprintf(arg, sizeof(arg), "%d", EXEC_FD);
	execl("/proc/self/exe", "fuzz", "--exec-child", arg, (char *)NULL);
}

/* is fd (still) an open of the device? another thread may have replaced it */
static bool is_dev(int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(SX_DEV, &b) == 0 && S_ISCHR(a.st_mode) &&
	       a.st_rdev == b.st_rdev;
}

static void member_main(uint64_t seed, int fd)
{
	struct member_map maps[MEMBER_MAPS] = { { 0 } };
	int n = 0, i, ret, op;
	struct simpler_lookup l;
	uint64_t s = seed | 1, a;
	pid_t g;
	void *p;

	if (!is_dev(fd))
		_exit(0);
	sx_probe_install();
	while (!atomic_load(&run->stop) && !atomic_load(&own->stop)) {
		i = rnd(&s) % NSLOTS;
		op = rnd(&s) % 100;
		if (op < 30) {			/* look up and map */
			a = atomic_load(&own->slots[i].addr);
			if (!a)
				continue;
			a += (rnd(&s) % (atomic_load(&own->slots[i].len) / SX_PAGE)) * SX_PAGE;
			ret = sx_lookup(fd, (void *)(uintptr_t)a, &l);
			count(OP_M_LOOKUP);
			if (!clean_errno(ret))
				violation("member LOOKUP answered %d", ret);
			if (ret)
				continue;
			if (l.buf_addr > a || a - l.buf_addr >= l.buf_len || l.offset != a - l.buf_addr)
				violation("LOOKUP of %#llx gave [%#llx, +%llu)", (unsigned long long)a,
					  (unsigned long long)l.buf_addr,
					  (unsigned long long)l.buf_len);
			n = (n + 1) % MEMBER_MAPS;
			if (maps[n].p)
				munmap((void *)maps[n].p, maps[n].len);
			maps[n].p = NULL;
			p = mmap(chance(&s, 50) ? (void *)(uintptr_t)l.buf_addr : NULL, l.buf_len,
				 chance(&s, 20) ? PROT_READ : PROT_READ | PROT_WRITE,
				 MAP_SHARED | (chance(&s, 50) ? MAP_FIXED_NOREPLACE : 0), fd,
				 l.mmap_offset);
			count(OP_M_MAP);
			if (p == MAP_FAILED)
				continue;
			maps[n] = (struct member_map){ p, l.buf_len, l.buf_addr };
		} else if (op < 80) {		/* read what is mapped */
			struct member_map *m = &maps[rnd(&s) % MEMBER_MAPS];
			int k;

			for (k = 0; m->p && k < 8; k++)
				member_check_page(m, rnd(&s) % (m->len / SX_PAGE));
		} else if (op < 88) {
			struct member_map *m = &maps[rnd(&s) % MEMBER_MAPS];

			count(OP_M_UNMAP);
			if (m->p && munmap((void *)m->p, m->len) == 0)
				m->p = NULL;
		} else if (op < 92) {
			count(OP_M_GRANDCHILD);
			g = fork();
			if (g == 0) {
				stranger_check(fd, "grandchild");
				_exit(0);
			}
			if (g > 0)
				waitpid(g, NULL, 0);
		} else if (op < 94) {
			count(OP_M_EXEC);
			g = fork();
			if (g == 0) {
				member_exec(fd);
				_exit(0);	/* no exec here: nothing to judge */
			}
			if (g > 0 && waitpid(g, &ret, 0) == g && WIFEXITED(ret) && WEXITSTATUS(ret))
				violation("after exec: %s", WEXITSTATUS(ret) == 1 ? "INFO failed" :
					  WEXITSTATUS(ret) == 2 ? "INFO shows a role or buffers" :
					  "LOOKUP did not answer EPERM");
		} else if (op < 96) {		/* its own domain: nothing of the owner's */
			int own_fd = sx_open();

			count(OP_M_REOPEN);
			if (own_fd >= 0) {
				ret = sx_lookup(own_fd, (void *)(uintptr_t)atomic_load(&own->slots[i].addr), &l);
				if (ret != -ENOENT)
					violation("a member's own domain LOOKUP answered %d", ret);
				close(own_fd);
			}
		} else if (op < 98) {
			count(OP_M_EXIT);
			_exit(0);			/* mappings and all */
		}
	}
	_exit(0);
}

static void op_fork(uint64_t *s)
{
	uint64_t seed = rnd(s);
	int fd = dev_fd();
	pid_t pid;

	if (atomic_load(&own->members) >= MAXMEMBERS)
		return;
	count(OP_FORK);
	atomic_fetch_add(&own->members, 1);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		member_main(seed, fd);
	}
	if (pid < 0)
		atomic_fetch_sub(&own->members, 1);
}

/* ---- the owner's threads ---- */

struct owner_thread {
	uint64_t seed;
	long ops;
};

static void owner_step(uint64_t *s, void *page2)
{
	struct fz_slot *sl = &own->slots[rnd(s) % NSLOTS];
	int op = rnd(s) % 100;

	pair_help();
	if (op < 25) {
		op_ioctl(s, page2);
		return;
	}
	if (op < 27) {
		op_reopen(s);
		return;
	}
	if (op < 31) {
		op_fork(s);
		return;
	}
	if (!slot_lock(sl))
		return;
	op = op < 43 ? OP_ALLOC : op < 63 ? OP_REGISTER : op < 71 ? OP_UNREGISTER :
	     op < 76 ? OP_FREE : op < 85 ? OP_DONTNEED : op < 89 ? OP_MREMAP :
	     op < 92 ? OP_TRUNCATE : op < 95 ? OP_MPROTECT : OP_PAIR;
	/* named by a violation on the slot's pages */
	atomic_store(&sl->last_op, op);
	switch (op) {
	case OP_ALLOC:
		op_alloc(s, sl);
		break;
	case OP_REGISTER:
		op_register(s, sl);
		break;
	case OP_UNREGISTER:
		op_unregister(s, sl);
		break;
	case OP_FREE:
		count(OP_FREE);
		slot_free(sl);
		break;
	case OP_PAIR:
		op_pair(s, sl);
		break;
	default:
		op_change(s, sl, op);
		break;
	}
	slot_unlock(sl);
}

static void *owner_thread(void *arg)
{
	struct owner_thread *t = arg;
	uint64_t s = t->seed | 1;
	void *page2 = mmap(NULL, 2 * SX_PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long i;

	for (i = 0; (t->ops < 0 || i < t->ops) && !atomic_load(&run->stop); i++) {
		owner_step(&s, page2);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			atomic_fetch_sub(&own->members, 1);
	}
	return NULL;
}

static void owner_main(uint64_t seed, long ops)
{
	struct owner_thread t[2] = { { seed ^ 0x1111, ops }, { seed ^ 0x2222, ops } };
	pthread_t th;
	int i, fd;

	own = mmap(NULL, sizeof(*own), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED)
		_exit(90);
	own->token = seed;
	own->pair_slot = PAIR_NONE;
	for (i = 0; i < NSLOTS; i++)
		own->slots[i].mfd = -1;
	fd = sx_open();
	if (fd < 0)
		_exit(91);
	own->fd = fd;
	own->sentinel = sx_map_sentinel(fd);
	pthread_create(&th, NULL, owner_thread, &t[1]);
	owner_thread(&t[0]);
	pthread_join(th, NULL);
	/* members see the stop flag; reap them */
	atomic_store(&own->stop, 1);
	while (wait(NULL) > 0)
		;
	_exit(0);
}

/* ---- the run ---- */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

FIXTURE(fz) {};
FIXTURE_SETUP(fz) {}
FIXTURE_TEARDOWN(fz) {}

TEST_F_TIMEOUT(fz, random_operations_keep_the_contract, 3600)
{
	uint64_t seed = env_u64("SIMPLER_FUZZ_SEED", (uint64_t)time(NULL) * 2654435761ULL);
	double secs = env_u64("SIMPLER_FUZZ_SECONDS", 30), t0, t;
	long ops = (long)env_u64("SIMPLER_FUZZ_OPS", 0) ?: -1;
	int owners = env_u64("SIMPLER_FUZZ_OWNERS", 3), i, st, kmsg;
	long long buffers0, domains0, members0;
	unsigned long total = 0;
	char bad[256] = "";
	pid_t *pids;
	uint64_t s;

	i = sx_open();
	SX_SKIP_NO_DEV(i);
	close(i);
	run = mmap(NULL, sizeof(*run), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, run);
	run->seed = seed;
	s = seed | 1;
	kmsg = sx_kmsg_mark();
	buffers0 = sx_stat("buffers");
	domains0 = sx_stat("domains");
	members0 = sx_stat("members");
	TH_LOG("seed %#llx (SIMPLER_FUZZ_SEED), %d owners x 2 threads, %.0f s",
	       (unsigned long long)seed, owners, secs);
	pids = calloc(owners, sizeof(*pids));
	t0 = now();
	for (i = 0; i < owners; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			owner_main(rnd(&s), ops);
	}
	/* owners die at random (everything registered, members and all) and come back */
	while (ops < 0 && (t = now() - t0) < secs) {
		usleep(100000);
		for (i = 0; i < owners; i++) {
			if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) &&
				    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
					violation("owner %d ended with status %#x", i, st);
				pids[i] = fork();
				if (pids[i] == 0)
					owner_main(rnd(&s), ops);
			} else if (chance(&s, 2)) {
				count(OP_OWNER_DEATH);
				kill(pids[i], SIGKILL);
			}
		}
	}
	/* a run bounded by operations ends when the owners are done */
	if (ops < 0)
		atomic_store(&run->stop, 1);
	for (i = 0; i < owners; i++)
		waitpid(pids[i], NULL, 0);
	atomic_store(&run->stop, 1);
	t = now() - t0;

	for (i = 0; i < NR_OPS; i++) {
		total += run->ops[i];
		if (run->ops[i])
			TH_LOG("  %-16s %lu", op_names[i], (unsigned long)run->ops[i]);
	}
	TH_LOG("%lu operations in %.1f s: %.0f ops/s; %lu member page reads checked (%lu judged "
	       "for staleness), %lu SIGBUS", total, t, total / t,
	       (unsigned long)run->pages_checked, (unsigned long)run->stale_judged,
	       (unsigned long)run->sigbus);
	EXPECT_EQ(0, run->violations) TH_LOG("seed %#llx: %d violations, first: %s",
					     (unsigned long long)seed, run->violations, run->first);
	EXPECT_LT(0, run->pages_checked);
	/* every process is gone: the module must be back where it was */
	EXPECT_TRUE(sx_wait_stat("domains", domains0, 20000));
	EXPECT_TRUE(sx_wait_stat("buffers", buffers0, 20000));
	EXPECT_TRUE(sx_wait_stat("members", members0, 20000));
	EXPECT_TRUE(sx_wait_pins_balanced(20000)) TH_LOG("seed %#llx", (unsigned long long)seed);
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, bad, sizeof(bad)))
		TH_LOG("seed %#llx: kernel: %s", (unsigned long long)seed, bad);
}

/* after exec the process is a stranger to the domain whose fd it kept */
static int exec_child(const char *fdarg)
{
	struct simpler_info info;
	struct simpler_lookup l;
	int fd = atoi(fdarg);

	if (sx_info(fd, &info))
		return 1;
	if (info.role != SIMPLER_ROLE_NONE || info.nr_buffers)
		return 2;
	return sx_lookup(fd, NULL, &l) == -EPERM ? 0 : 3;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--exec-child"))
		return exec_child(argv[2]);
	return test_harness_run(argc, argv);
}
