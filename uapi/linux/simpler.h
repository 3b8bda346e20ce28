/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * simpler.ko user ABI, version 1.
 *
 * One misc device, /dev/simpler.  Each open file is a *domain*; the process
 * that opened it is the domain's *owner*.  Children the owner forks while it
 * has the domain's sentinel page (mmap offset 0, one page, read-only) mapped
 * become the domain's *members*; they inherit the fd.
 *
 * The owner pins ranges of its address space with SIMPLER_IOC_REGISTER;
 * members map them with mmap(MAP_SHARED) of the fd at the returned
 * mmap_offset and see the owner's pages, not a copy.  SIMPLER_IOC_QUERY tells
 * the owner which of its memory every member can see.
 *
 * Every argument struct starts with `size`, the caller's sizeof.  Older
 * (shorter) structs are zero-extended; a newer (longer) struct whose unknown
 * trailing bytes are not all zero fails with E2BIG; a size below the version-0
 * size fails with EINVAL.  Non-zero `flags` bits the kernel does not know and
 * non-zero `pad` fields fail with EINVAL.  The size bits of the command number
 * are ignored: `size` is authoritative.  Unknown commands fail with ENOTTY.
 *
 * This file is shared verbatim by the module and libsimpler.
 */
#ifndef _UAPI_LINUX_SIMPLER_H
#define _UAPI_LINUX_SIMPLER_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SIMPLER_ABI_VERSION	1
#define SIMPLER_IOC_MAGIC	0xB8

/* mmap offset of the sentinel page; buffers live at their mmap_offset */
#define SIMPLER_SENTINEL_OFFSET	0ULL
/* the sentinel page holds this __u32, then the ABI version as a __u32 */
#define SIMPLER_SENTINEL_MAGIC	0x53504d4cU	/* "SMPL" */

/* simpler_info.features */
#define SIMPLER_FEAT_HOSTBUF	(1ULL << 0)	/* REGISTER / UNREGISTER / LOOKUP */
#define SIMPLER_FEAT_FORKTRACK	(1ULL << 1)	/* sentinel fork hook and QUERY */
#define SIMPLER_FEAT_STALE	(1ULL << 2)	/* owner unmap/remap marks buffers stale */
#define SIMPLER_FEAT_HUGETLB	(1ULL << 3)	/* hugetlb ranges can be registered */

/* simpler_info.role: what the calling process is to this domain */
#define SIMPLER_ROLE_NONE	0
#define SIMPLER_ROLE_OWNER	1
#define SIMPLER_ROLE_MEMBER	2

/* visibility verdicts, ordered best to worst (a mixed range reports the worst) */
#define SIMPLER_VIS_SHARED	1	/* MAP_SHARED identity seen by every member */
#define SIMPLER_VIS_REGISTERED	2	/* wholly inside one live registered buffer */
#define SIMPLER_VIS_PRIVATE	3	/* inherited copy-on-write: a stale snapshot */
#define SIMPLER_VIS_MISMATCH	4	/* a member had another object there at fork */
#define SIMPLER_VIS_UNMAPPED	5	/* hole now, or absent in a member at fork */

/* buffer state bits (query.buf_flags, lookup.buf_flags) */
#define SIMPLER_BUF_STALE	(1U << 0)	/* owner unmapped or replaced the pages */

struct simpler_info {
	__u32 size;		/* in: sizeof(struct simpler_info) */
	__u32 flags;		/* in: 0 */
	__u32 abi_version;	/* out: SIMPLER_ABI_VERSION */
	__u32 page_size;	/* out */
	__u64 features;		/* out: SIMPLER_FEAT_* */
	__u64 pinned_bytes;	/* out: pinned by this domain (owner, member) */
	__u64 pinned_limit;	/* out: this domain's cap (module parameter) */
	__u32 nr_buffers;	/* out: registered, including stale (owner, member) */
	__u32 nr_members;	/* out: live members (owner, member) */
	__u32 role;		/* out: SIMPLER_ROLE_* of the caller */
	__u32 member_id;	/* out: caller's member id when role is MEMBER */
	__u64 domain_id;	/* out: unique per open */
};

#define SIMPLER_INFO_SIZE_VER0	64

/*
 * INFO answers whoever holds the fd.  A caller that is neither the owner nor
 * a member (a grandchild, an fd passed with SCM_RIGHTS or pidfd_getfd) gets
 * role NONE and zero pinned_bytes, nr_buffers and nr_members.
 */

/*
 * REGISTER (owner only): pin [addr, addr + len) of the caller.  addr and len
 * are page aligned, len > 0.  Anonymous, shmem/memfd/SysV and hugetlb memory
 * is accepted.  Errors: EINVAL unaligned, ERANGE zero length, EOVERFLOW
 * wraps or exceeds the address space, EFAULT hole, ENXIO VM_IO/VM_PFNMAP,
 * EOPNOTSUPP regular-file mapping, EACCES not writable, EEXIST overlaps a
 * live registration, ENOMEM over RLIMIT_MEMLOCK or the module cap, ENOSPC
 * too many buffers, EPERM not the owner, EAGAIN range changed while pinning,
 * EFBIG longer than 64 GiB.  Handles are per domain and handed out
 * cyclically; mmap_offset is below 2^44, so 32-bit members can map it
 * through mmap2().  Until REGISTER returns, the buffer is invisible.
 */
struct simpler_register {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u64 addr;		/* in */
	__u64 len;		/* in */
	__u64 handle;		/* out: non-zero */
	__u64 mmap_offset;	/* out: pass to mmap() (MAP_SHARED, never PROT_EXEC) */
};

#define SIMPLER_REGISTER_SIZE_VER0	40

/*
 * UNREGISTER (owner only): revoke a handle.  Member mappings are zapped first
 * (a later touch raises SIGBUS); the pages are unpinned when the last mapping
 * is gone.  ENOENT unknown handle, EPERM not the owner.
 */
struct simpler_unregister {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u64 handle;		/* in */
};

#define SIMPLER_UNREGISTER_SIZE_VER0	16

/*
 * QUERY (owner only): can every member see [addr, addr + len) of the owner as
 * the owner maps it now?  handle/offset/buf_flags describe the registered
 * buffer containing addr, live or stale (handle 0: none).
 */
struct simpler_query {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u64 addr;		/* in */
	__u64 len;		/* in: > 0 */
	__u32 verdict;		/* out: SIMPLER_VIS_* */
	__u32 buf_flags;	/* out: SIMPLER_BUF_* */
	__u64 handle;		/* out */
	__u64 offset;		/* out: addr - buffer start */
	__u32 member_id;	/* out: first member that cannot see it, 0: none */
	__s32 member_pid;	/* out: its pid (0 if unknown) */
	__u32 nr_members;	/* out: members judged */
	__u32 pad;		/* in: 0 */
};

#define SIMPLER_QUERY_SIZE_VER0	64

/*
 * LOOKUP (owner or member): the registered buffer containing owner-space
 * address addr.  ENOENT none; ESTALE only a stale one (the out fields are
 * filled and copied out in that case too); EPERM not in the domain.
 */
struct simpler_lookup {
	__u32 size;
	__u32 flags;		/* in: 0 */
	__u64 addr;		/* in */
	__u64 handle;		/* out */
	__u64 offset;		/* out: addr - buf_addr */
	__u64 mmap_offset;	/* out: of the buffer start */
	__u64 buf_addr;		/* out */
	__u64 buf_len;		/* out */
	__u32 buf_flags;	/* out: SIMPLER_BUF_* */
	__u32 pad;		/* in: 0 */
};

#define SIMPLER_LOOKUP_SIZE_VER0	64

#define SIMPLER_IOC_INFO	_IOWR(SIMPLER_IOC_MAGIC, 0x00, struct simpler_info)
#define SIMPLER_IOC_REGISTER	_IOWR(SIMPLER_IOC_MAGIC, 0x01, struct simpler_register)
#define SIMPLER_IOC_UNREGISTER	_IOW(SIMPLER_IOC_MAGIC, 0x02, struct simpler_unregister)
#define SIMPLER_IOC_QUERY	_IOWR(SIMPLER_IOC_MAGIC, 0x03, struct simpler_query)
#define SIMPLER_IOC_LOOKUP	_IOWR(SIMPLER_IOC_MAGIC, 0x04, struct simpler_lookup)

#endif /* _UAPI_LINUX_SIMPLER_H */
