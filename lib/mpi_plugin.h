/* SPDX-License-Identifier: MIT */
/*
 * What libsimpler asks of MPI, as the plugin libsimpler-mpi.so.0 provides
 * it: a table of plain functions with no MPI type in sight, so that
 * libsimpler never links libmpi (it dlopen()s the plugin when a worker is
 * created with SIMPLER_WORKER_MPI, and nothing else needs Open MPI).
 *
 * Every call returns 0 or a negative errno with MPI's own message in err
 * (MPI_Error_string).  Nothing blocks but send, recv and init; the rest
 * polls.  Messages of any size: the plugin splits what exceeds one MPI
 * count into chunks of the same tag (MPI keeps their order).
 */
#ifndef SIMPLER_MPI_PLUGIN_H
#define SIMPLER_MPI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define SX_MPI_ABI	4
#define SX_MPI_SYMBOL	"sx_mpi_plugin_v1"
#define SX_MPI_SONAME	"libsimpler-mpi.so.0"

struct sx_mpi_req;		/* one message in flight (the plugin's) */

struct sx_mpi_ops {
	uint32_t abi;		/* SX_MPI_ABI */
	/* the MPI library's own version line */
	const char *(*version)(void);
	/* 1 if MPI_Init has run in this process (and MPI_Finalize has not) */
	int (*initialized)(void);
	/*
	 * MPI_Init_thread (MPI_THREAD_SERIALIZED: one thread at a time calls
	 * MPI), then a communicator of our own (a dup of MPI_COMM_WORLD) whose
	 * errors return instead of aborting.  *recovery: 1 when mpirun runs
	 * with --enable-recovery (a dead rank does not end the job).
	 */
	int (*init)(int *rank, int *size, int *recovery, char *host, size_t hostlen, char *err,
		    size_t errlen);
	/*
	 * MPI_Finalize; peer_lost: a rank of the job died (with --enable-
	 * recovery), so the closing fence of every process is skipped where
	 * the MPI can.
	 */
	void (*finalize)(int peer_lost);
	int (*isend)(const void *buf, uint64_t len, int dst, int tag, struct sx_mpi_req **r,
		     char *err, size_t errlen);
	int (*irecv)(void *buf, uint64_t len, int src, int tag, struct sx_mpi_req **r, char *err,
		     size_t errlen);
	/*
	 * *done = 1 once r completed (r is freed then); an error frees r too.
	 * A receive that got fewer bytes than it was posted for is -EPROTO.
	 */
	int (*test)(struct sx_mpi_req *r, int *done, char *err, size_t errlen);
	/* give up on r (cancelled if MPI can, then freed) */
	void (*drop)(struct sx_mpi_req *r);
	/* a message waiting from src (-1: any) with tag: *found, its source and length */
	int (*probe)(int src, int tag, int *found, int *from, uint64_t *len, char *err,
		     size_t errlen);
	/* blocking: the message probe() found (or any of exactly len bytes) */
	int (*recv)(void *buf, uint64_t len, int src, int tag, char *err, size_t errlen);
	int (*send)(const void *buf, uint64_t len, int dst, int tag, char *err, size_t errlen);
	/* the largest tag this MPI allows (MPI_TAG_UB) */
	int (*tag_ub)(void);
	/*
	 * Memory the ranks of this host share, bytes for each, zeroed: rank
	 * r's at *base + slot[r] * bytes where slot[r] >= 0 (-1: another
	 * host), for r below nslot.  Collective over every rank of the job;
	 * all of a host's ranks get it or none does.  Finalize unmaps it.
	 */
	int (*host_shared)(uint64_t bytes, void **base, int *slot, int nslot, char *err,
			   size_t errlen);
	/*
	 * MPI's own polls that find nothing: 0, they do not yield the CPU;
	 * 1, as MPI chose at init (Open MPI yields when the host has more
	 * ranks than CPUs).  1 if it took effect, 0 where MPI has no such
	 * switch.  From any thread, one call at a time.
	 */
	int (*idle_yields)(int on);
};

#endif /* SIMPLER_MPI_PLUGIN_H */
