// SPDX-License-Identifier: MIT
/*
 * libsimpler-mpi.so.0: the only code of simpler that sees MPI.  libsimpler
 * dlopen()s it for a worker created with SIMPLER_WORKER_MPI and calls it
 * through struct sx_mpi_ops (lib/mpi_plugin.h); built with mpicc when Open
 * MPI is installed, absent otherwise.
 *
 * Every call goes to one communicator of our own, a dup of MPI_COMM_WORLD
 * whose errors return (MPI_ERRORS_RETURN), so that an MPI failure becomes
 * an errno and a message, never an abort of the job.  Messages larger than
 * one MPI count are sent as chunks of up to 1 GiB with the same tag.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mpi_plugin.h"

#define CHUNK	((uint64_t)1 << 30)

static MPI_Comm comm = MPI_COMM_NULL;
/* host_shared()'s ranks and mapping (finalize unmaps it) */
static MPI_Comm host_comm = MPI_COMM_NULL;
static void *host_mem = MAP_FAILED;
static size_t host_len;

struct sx_mpi_req {
	int n;			/* chunks */
	bool recv;
	uint64_t len;		/* bytes in all: a receive must get exactly these */
	MPI_Request r[];
};

/* 0, or -EIO with MPI's message for code rc */
static int fail(int rc, const char *what, char *err, size_t len)
{
	char s[MPI_MAX_ERROR_STRING];
	int n = 0;

	if (rc == MPI_SUCCESS)
		return 0;
	if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS)
		snprintf(s, sizeof(s), "error %d", rc);
	snprintf(err, len, "%s: %s", what, s);
	return -EIO;
}

static const char *p_version(void)
{
	static char v[MPI_MAX_LIBRARY_VERSION_STRING];
	int n = 0;

	if (!v[0] && MPI_Get_library_version(v, &n) != MPI_SUCCESS)
		snprintf(v, sizeof(v), "MPI %d.%d", MPI_VERSION, MPI_SUBVERSION);
	v[strcspn(v, "\n,")] = 0;
	return v;
}

static int p_initialized(void)
{
	int i = 0, f = 0;

	MPI_Initialized(&i);
	MPI_Finalized(&f);
	return i && !f;
}

static int p_init(int *rank, int *size, int *recovery, char *host, size_t hostlen, char *err,
		size_t len)
{
	char name[MPI_MAX_PROCESSOR_NAME];
	const char *rec = getenv("OMPI_MCA_orte_enable_recovery");
	int provided = 0, n = 0, rc;

	rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
	if (rc != MPI_SUCCESS)
		return fail(rc, "MPI_Init_thread", err, len);
	if (provided < MPI_THREAD_SERIALIZED) {
		snprintf(err, len, "MPI_Init_thread: this MPI provides thread level %d, "
			 "MPI_THREAD_SERIALIZED (%d) is needed", provided, MPI_THREAD_SERIALIZED);
		MPI_Finalize();
		return -ENOTSUP;
	}
	rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_rank(comm, rank);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_size(comm, size);
	if (rc == MPI_SUCCESS)
		rc = MPI_Get_processor_name(name, &n);
	if (rc != MPI_SUCCESS) {
		fail(rc, "setting up the communicator", err, len);
		MPI_Finalize();
		return -EIO;
	}
	snprintf(host, hostlen, "%s", name);
	*recovery = rec && (!strcmp(rec, "1") || !strcmp(rec, "true"));
	return 0;
}

/*
 * Open MPI 4.1's MPI_Finalize ends with a fence of every process of the
 * job.  After a rank died under --enable-recovery the survivors sometimes
 * wait in it for ever (all of them in ompi_mpi_finalize's wait for the
 * fence: seen over TCP and over shared memory, 1 run in 5 to 40 of the loss
 * tests).  Open MPI's own switch for skipping that fence,
 * ompi_async_mpi_finalize (a bool of libmpi, not an MCA parameter in
 * Debian's 4.1), is set then; an MPI without it finalizes as usual.
 */
static void p_finalize(int peer_lost)
{
	bool *async = peer_lost ? dlsym(RTLD_DEFAULT, "ompi_async_mpi_finalize") : NULL;

	if (host_comm != MPI_COMM_NULL)
		MPI_Comm_free(&host_comm);
	host_comm = MPI_COMM_NULL;
	if (host_mem != MAP_FAILED)
		munmap(host_mem, host_len);
	host_mem = MAP_FAILED;
	if (comm != MPI_COMM_NULL)
		MPI_Comm_free(&comm);
	comm = MPI_COMM_NULL;
	if (async)
		*async = true;
	MPI_Finalize();
}

static struct sx_mpi_req *req_new(uint64_t len)
{
	int n = len ? (int)((len + CHUNK - 1) / CHUNK) : 1;
	struct sx_mpi_req *r = malloc(sizeof(*r) + (size_t)n * sizeof(MPI_Request));
	int i;

	if (r) {
		r->n = n;
		for (i = 0; i < n; i++)
			r->r[i] = MPI_REQUEST_NULL;
	}
	return r;
}

/* the chunks of one message, each posted by post() */
static int post_all(void *buf, uint64_t len, int peer, int tag, bool send, struct sx_mpi_req **out,
		    char *err, size_t elen)
{
	struct sx_mpi_req *r = req_new(len);
	uint64_t off = 0, k;
	int i, rc = MPI_SUCCESS;

	if (!r) {
		snprintf(err, elen, "out of memory");
		return -ENOMEM;
	}
	r->recv = !send;
	r->len = len;
	for (i = 0; i < r->n && rc == MPI_SUCCESS; i++, off += k) {
		k = len - off < CHUNK ? len - off : CHUNK;
		rc = send ? MPI_Isend((char *)buf + off, (int)k, MPI_BYTE, peer, tag, comm, &r->r[i]) :
			    MPI_Irecv((char *)buf + off, (int)k, MPI_BYTE, peer, tag, comm, &r->r[i]);
	}
	if (rc != MPI_SUCCESS) {
		for (i = 0; i < r->n; i++)
			if (r->r[i] != MPI_REQUEST_NULL) {
				MPI_Cancel(&r->r[i]);
				MPI_Request_free(&r->r[i]);
			}
		free(r);
		return fail(rc, send ? "MPI_Isend" : "MPI_Irecv", err, elen);
	}
	*out = r;
	return 0;
}

static int p_isend(const void *buf, uint64_t len, int dst, int tag, struct sx_mpi_req **r, char *err,
		 size_t elen)
{
	return post_all((void *)buf, len, dst, tag, true, r, err, elen);
}

static int p_irecv(void *buf, uint64_t len, int src, int tag, struct sx_mpi_req **r, char *err,
		 size_t elen)
{
	return post_all(buf, len, src, tag, false, r, err, elen);
}

static void p_drop(struct sx_mpi_req *r)
{
	int i, flag = 0;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		if (r->r[i] == MPI_REQUEST_NULL)
			continue;
		MPI_Test(&r->r[i], &flag, MPI_STATUS_IGNORE);
		if (r->r[i] != MPI_REQUEST_NULL) {
			MPI_Cancel(&r->r[i]);
			MPI_Request_free(&r->r[i]);
		}
	}
	free(r);
}

/*
 * A finished receive got exactly the bytes it was posted for (MPI takes a
 * shorter message silently): 0, or -EPROTO saying what came instead.
 */
static int counts_check(const struct sx_mpi_req *r, MPI_Status *st, char *err, size_t elen)
{
	uint64_t off = 0, k;
	int i, n;

	for (i = 0; r->recv && i < r->n; i++, off += k) {
		k = r->len - off < CHUNK ? r->len - off : CHUNK;
		if (MPI_Get_count(&st[i], MPI_BYTE, &n) != MPI_SUCCESS || n < 0 || (uint64_t)n != k) {
			snprintf(err, elen, "a message of %d bytes from rank %d (tag %d) where %" PRIu64
				 " were due (part %d of a %" PRIu64 "-byte receive): the peer broke the "
				 "protocol", n, st[i].MPI_SOURCE, st[i].MPI_TAG, k, i, r->len);
			return -EPROTO;
		}
	}
	return 0;
}

static int p_test(struct sx_mpi_req *r, int *done, char *err, size_t elen)
{
	MPI_Status one[4], *st = r->n <= 4 ? one : malloc((size_t)r->n * sizeof(*st));
	int flag = 0, rc, ret = 0;

	if (!st) {
		snprintf(err, elen, "out of memory");
		return -ENOMEM;
	}
	rc = MPI_Testall(r->n, r->r, &flag, st);
	if (rc != MPI_SUCCESS) {
		if (st != one)
			free(st);
		p_drop(r);
		return fail(rc, "MPI_Testall", err, elen);
	}
	*done = flag;
	if (flag) {
		ret = counts_check(r, st, err, elen);
		free(r);
	}
	if (st != one)
		free(st);
	return ret;
}

static int p_probe(int src, int tag, int *found, int *from, uint64_t *len, char *err, size_t elen)
{
	MPI_Status st;
	int flag = 0, n = 0, rc;

	rc = MPI_Iprobe(src < 0 ? MPI_ANY_SOURCE : src, tag, comm, &flag, &st);
	if (rc == MPI_SUCCESS && flag)
		rc = MPI_Get_count(&st, MPI_BYTE, &n);
	if (rc != MPI_SUCCESS)
		return fail(rc, "MPI_Iprobe", err, elen);
	*found = flag;
	if (flag) {
		*from = st.MPI_SOURCE;
		*len = (uint64_t)n;
	}
	return 0;
}

/* the chunks of r, waited for; r is freed */
static int wait_all(struct sx_mpi_req *r, const char *what, char *err, size_t elen)
{
	int rc = MPI_Waitall(r->n, r->r, MPI_STATUSES_IGNORE);

	free(r);
	return fail(rc, what, err, elen);
}

static int p_recv(void *buf, uint64_t len, int src, int tag, char *err, size_t elen)
{
	struct sx_mpi_req *r;
	int ret = p_irecv(buf, len, src, tag, &r, err, elen);

	return ret ? ret : wait_all(r, "MPI_Recv", err, elen);
}

static int p_send(const void *buf, uint64_t len, int dst, int tag, char *err, size_t elen)
{
	struct sx_mpi_req *r;
	int ret = p_isend(buf, len, dst, tag, &r, err, elen);

	return ret ? ret : wait_all(r, "MPI_Send", err, elen);
}

static int p_tag_ub(void)
{
	int *v = NULL, flag = 0;

	if (MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag) != MPI_SUCCESS || !flag)
		return 32767;	/* what the standard promises */
	return *v;
}

/*
 * The leader's memory, mapped by one of the host's ranks: 0 or -errno.
 * Through the leader's /proc entry for the fd, so nothing is ever named
 * in /dev/shm (nothing can stay behind); the nonce the leader wrote tells
 * the right process's memory from another's (ranks in another pid
 * namespace see other processes under those numbers).
 */
static int host_attach(const int64_t *id, size_t len)
{
	char path[64];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%lld/fd/%lld", (long long)id[0], (long long)id[1]);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	if (memcmp((char *)p + len - sizeof(id[2]), &id[2], sizeof(id[2]))) {
		munmap(p, len);
		return -ESTALE;
	}
	host_mem = p;
	return 0;
}

/* slot[r] for the first nslot ranks: rank r's place among this host's, or -1 */
static int host_slots(int *slot, int nslot)
{
	MPI_Group world = MPI_GROUP_NULL, host = MPI_GROUP_NULL;
	int size = 0, i, rc, *all = NULL;

	rc = MPI_Comm_size(comm, &size);
	if (size > nslot)
		size = nslot;
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_group(comm, &world);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_group(host_comm, &host);
	if (rc == MPI_SUCCESS && !(all = malloc((size_t)size * sizeof(*all))))
		rc = MPI_ERR_NO_MEM;
	for (i = 0; all && i < size; i++)
		all[i] = i;
	if (rc == MPI_SUCCESS)
		rc = MPI_Group_translate_ranks(world, size, all, host, slot);
	for (i = 0; rc == MPI_SUCCESS && i < size; i++)
		if (slot[i] == MPI_UNDEFINED)
			slot[i] = -1;
	free(all);
	if (world != MPI_GROUP_NULL)
		MPI_Group_free(&world);
	if (host != MPI_GROUP_NULL)
		MPI_Group_free(&host);
	return rc;
}

/*
 * The host's ranks (MPI_COMM_TYPE_SHARED): the first makes the memory (a
 * memfd) and tells the others its pid, fd and a nonce (MPI_Bcast); they
 * map it; all or none go on (MPI_Allreduce).  Every rank of the job calls
 * each collective whatever failed before it.  Not an MPI window: MPI_Finalize
 * frees windows with a barrier, which waits for ever for a rank that died.
 */
static int p_host_shared(uint64_t bytes, void **base, int *slot, int nslot, char *err,
			 size_t elen)
{
	int hsize = 0, me = 0, rc, fd = -1, ok = 0, all_ok = 0, why = 0;
	int64_t id[3] = { 0, -1, 0 };	/* the leader's pid, fd, nonce */
	struct timespec ts;

	rc = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &host_comm);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_rank(host_comm, &me);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_size(host_comm, &hsize);
	if (rc != MPI_SUCCESS)
		return fail(rc, "finding this host's ranks", err, elen);
	host_len = bytes * (size_t)hsize + sizeof(id[2]);
	if (me == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		id[0] = getpid();
		id[2] = (int64_t)ts.tv_nsec ^ ((int64_t)ts.tv_sec << 30) ^ id[0] << 20;
		fd = memfd_create("simpler-bells", MFD_CLOEXEC);
		/* allocated now: a full tmpfs fails here, not as SIGBUS later */
		why = fd < 0 ? errno : posix_fallocate(fd, 0, (off_t)host_len);
		if (!why) {
			host_mem = mmap(NULL, host_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			why = host_mem == MAP_FAILED ? errno : 0;
		}
		if (!why) {
			memcpy((char *)host_mem + host_len - sizeof(id[2]), &id[2], sizeof(id[2]));
			id[1] = fd;
		}
	}
	rc = MPI_Bcast(id, 3, MPI_INT64_T, 0, host_comm);
	if (rc == MPI_SUCCESS && me && id[1] >= 0)
		why = -host_attach(id, host_len);
	ok = rc == MPI_SUCCESS && id[1] >= 0 && host_mem != MAP_FAILED;
	/* every rank mapped it, or none uses it */
	if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, host_comm) != MPI_SUCCESS)
		all_ok = 0;
	if (fd >= 0)
		close(fd);
	if (all_ok) {
		rc = host_slots(slot, nslot);
		if (rc == MPI_SUCCESS) {
			*base = host_mem;
			return 0;
		}
	}
	if (host_mem != MAP_FAILED)
		munmap(host_mem, host_len);
	host_mem = MAP_FAILED;
	if (rc != MPI_SUCCESS)
		return fail(rc, "sharing memory with this host's ranks", err, elen);
	snprintf(err, elen, "cannot share memory with this host's ranks: %s",
		 why ? strerror(why) : ok ? "another rank could not" : "the first could not");
	return -ENOMEM;
}

/*
 * Open MPI's idle yields (mpi_yield_when_idle: on by itself when the host
 * holds more ranks than CPUs) at run time: off while crowded, back to what
 * MPI chose otherwise, through opal_progress_set_yield_when_idle() of
 * Open MPI's libopen-pal (also what MPI_Init calls).  Another MPI, or an
 * Open MPI without it: nothing changes.
 */
static bool (*yields_set)(bool);
static bool yields_chosen;

static void yields_find(void)
{
	bool *current = dlsym(RTLD_DEFAULT, "opal_progress_yield_when_idle");

	/* without the variable, MPI's choice could not be put back */
	if (current) {
		*(void **)&yields_set = dlsym(RTLD_DEFAULT, "opal_progress_set_yield_when_idle");
		yields_chosen = *current;
	}
}

static int p_idle_yields(int on)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, yields_find);
	if (!yields_set)
		return 0;
	yields_set(on ? yields_chosen : false);
	return 1;
}

__attribute__((visibility("default"))) const struct sx_mpi_ops sx_mpi_plugin_v1 = {
	.abi = SX_MPI_ABI,
	.version = p_version,
	.initialized = p_initialized,
	.init = p_init,
	.finalize = p_finalize,
	.isend = p_isend,
	.irecv = p_irecv,
	.test = p_test,
	.drop = p_drop,
	.probe = p_probe,
	.recv = p_recv,
	.send = p_send,
	.tag_ub = p_tag_ub,
	.host_shared = p_host_shared,
	.idle_yields = p_idle_yields,
};
