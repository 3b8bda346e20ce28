// SPDX-License-Identifier: MIT
/* A chip or sub process's mappings of registered host buffers (see hostmap.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "base/kmod.h"
#include "base/vec.h"
#include "chip/hostmap.h"

struct hostmap_ent {
	uint64_t kh, buf_addr, len, mapped;
};

static struct hostmap_ent *map_get(struct hostmap *m, uint64_t kh, uint64_t addr, char *why,
				   size_t len)
{
	struct simpler_lookup l;
	struct hostmap_ent *e;
	void *p;
	size_t i;
	int ret;

	for (i = 0; i < m->n; i++)
		if (m->v[i].kh == kh)
			return &m->v[i];
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.addr = addr;
	ret = sx_kmod_ioctl(m->fd, SIMPLER_IOC_LOOKUP, &l);
	if (ret) {
		snprintf(why, len, "registered buffer at 0x%" PRIx64 ": simpler.ko LOOKUP: %s%s",
			 addr, strerror(-ret), ret == -ESTALE ? " (the application unmapped or "
			 "replaced its pages: unregister and register it again)" : "");
		return NULL;
	}
	/* at the parent's address when free: pointers inside then need no rewriting */
	p = mmap((void *)(uintptr_t)l.buf_addr, l.buf_len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, m->fd, (off_t)l.mmap_offset);
	if (p == MAP_FAILED || p != (void *)(uintptr_t)l.buf_addr) {
		if (p != MAP_FAILED)
			munmap(p, l.buf_len);
		p = mmap(NULL, l.buf_len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd,
			 (off_t)l.mmap_offset);
	}
	if (p == MAP_FAILED) {
		snprintf(why, len, "registered buffer at 0x%" PRIx64 ": mmap: %s", addr,
			 strerror(errno));
		return NULL;
	}
	if (VEC_ROOM(m->v, m->n, m->cap, 16)) {
		munmap(p, l.buf_len);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	e = &m->v[m->n++];
	e->kh = l.handle;
	e->buf_addr = l.buf_addr;
	e->len = l.buf_len;
	e->mapped = (uintptr_t)p;
	return e;
}

int sx_hostmap_translate(struct hostmap *m, struct simpler_tensor *t, const uint64_t *reg,
			 uint32_t n, char *why, size_t len)
{
	struct hostmap_ent *e;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (!reg[i] || t[i].child_memory)
			continue;
		if (m->fd < 0) {
			t[i].addr += reg[i];	/* shm: the buffer's mirror */
			continue;
		}
		e = map_get(m, reg[i], t[i].addr, why, len);
		if (!e)
			return -EFAULT;
		t[i].addr = e->mapped + (t[i].addr - e->buf_addr);
	}
	return 0;
}

void sx_hostmap_unmap(struct hostmap *m, uint64_t kh)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (m->v[i].kh != kh)
			continue;
		munmap((void *)(uintptr_t)m->v[i].mapped, m->v[i].len);
		m->v[i] = m->v[--m->n];
		return;
	}
}
