// SPDX-License-Identifier: MIT
/* /proc/self/maps identity tables and verdicts (see mapsnap.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/simpler.h>

#include "mapsnap.h"
#include "vec.h"

static char *slurp(const char *path, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (n + 4096 > cap) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

static int push(struct mapsnap *s, const struct vma_ident *x)
{
	if (VEC_ROOM(s->v, s->n, s->cap, 256))
		return -ENOMEM;
	s->v[s->n++] = *x;
	return 0;
}

/* "start-end perms offset maj:min inode ..." */
static int parse_head(const char *line, struct vma_ident *x)
{
	unsigned long long start, end, off, ino;
	unsigned maj, min;
	char perms[8];

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off, &maj, &min,
		   &ino) != 7)
		return -1;
	memset(x, 0, sizeof(*x));
	x->start = start;
	x->end = end;
	x->off = off;
	x->dev = ((uint64_t)maj << 32) | min;
	x->ino = ino;
	x->shared = perms[3] == 's';
	x->writable = perms[1] == 'w';
	return 0;
}

int sx_mapsnap_take(struct mapsnap *s, bool with_flags)
{
	size_t len;
	char *buf = slurp(with_flags ? "/proc/self/smaps" : "/proc/self/maps", &len), *line, *next;
	struct vma_ident x;
	int ret = 0;

	s->n = 0;
	if (!buf)
		return -errno ? -errno : -ENOMEM;
	for (line = buf; line && *line && !ret; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!parse_head(line, &x))
			ret = push(s, &x);
		else if (with_flags && s->n && !strncmp(line, "VmFlags:", 8)) {
			s->v[s->n - 1].dontcopy = strstr(line, " dc") != NULL;
			s->v[s->n - 1].wipeonfork = strstr(line, " wf") != NULL;
		}
	}
	free(buf);
	return ret;
}

void sx_mapsnap_free(struct mapsnap *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static bool same_object(const struct vma_ident *f, const struct vma_ident *c)
{
	if (!f->ino || !c->ino)
		return !f->ino && !c->ino && !f->dev && !c->dev;
	return f->ino == c->ino && f->dev == c->dev && f->off - f->start == c->off - c->start;
}

static unsigned judge_now(const struct vma_ident *c)
{
	if (c->dontcopy)
		return SIMPLER_VIS_UNMAPPED;
	if (c->wipeonfork || !c->shared)
		return SIMPLER_VIS_PRIVATE;
	return SIMPLER_VIS_SHARED;
}

/* what member m saw at fork where cur maps c over [s, e) */
static unsigned judge_member(const struct mapsnap *m, const struct vma_ident *c, uint64_t s,
			     uint64_t e)
{
	size_t i = FIRST_ABOVE(m->v, m->n, end, s);
	uint64_t pos = s;
	unsigned worst = SIMPLER_VIS_SHARED, v;

	for (; pos < e; i++) {
		if (i >= m->n || m->v[i].start > pos)
			return SIMPLER_VIS_UNMAPPED;
		if (m->v[i].dontcopy)
			v = SIMPLER_VIS_UNMAPPED;
		else if (!same_object(&m->v[i], c))
			v = SIMPLER_VIS_MISMATCH;
		else if (m->v[i].wipeonfork || !m->v[i].shared || !c->shared)
			v = SIMPLER_VIS_PRIVATE;
		else
			v = SIMPLER_VIS_SHARED;
		if (v > worst)
			worst = v;
		pos = m->v[i].end;
	}
	return worst;
}

/* the extent of the one mapping of m holding [a, e) into [*lo, *hi), else [a, e) */
static void narrow(const struct mapsnap *m, uint64_t a, uint64_t e, uint64_t *lo, uint64_t *hi)
{
	size_t i = FIRST_ABOVE(m->v, m->n, end, a);

	if (i < m->n && m->v[i].start <= a && e <= m->v[i].end) {
		*lo = m->v[i].start > *lo ? m->v[i].start : *lo;
		*hi = m->v[i].end < *hi ? m->v[i].end : *hi;
	} else {
		*lo = a;
		*hi = e;
	}
}

unsigned sx_mapsnap_verdict(const struct mapsnap *cur, const struct mapsnap *const *members, int n,
			    uint64_t a, uint64_t len, int *bad, uint64_t *lo, uint64_t *hi)
{
	uint64_t end = a + len, pos = a, s, e;
	unsigned worst = SIMPLER_VIS_SHARED, v, floor;
	size_t i = FIRST_ABOVE(cur->v, cur->n, end, a);
	int k;

	*bad = -1;
	/* what holds for the range holds for the mappings it lies in */
	*lo = 0;
	*hi = UINT64_MAX;
	narrow(cur, a, end, lo, hi);
	for (k = 0; k < n; k++)
		narrow(members[k], a, end, lo, hi);
	for (; pos < end; i++) {
		if (i >= cur->n || cur->v[i].start > pos) {
			worst = SIMPLER_VIS_UNMAPPED;	/* a hole now */
			break;
		}
		s = pos;
		e = cur->v[i].end < end ? cur->v[i].end : end;
		floor = judge_now(&cur->v[i]);
		if (floor > worst)
			worst = floor;
		for (k = 0; k < n; k++) {
			v = judge_member(members[k], &cur->v[i], s, e);
			if (v < floor)
				v = floor;
			if (v != SIMPLER_VIS_SHARED && *bad < 0)
				*bad = k;
			if (v > worst)
				worst = v;
		}
		pos = e;
	}
	if (worst != SIMPLER_VIS_SHARED && *bad < 0 && n)
		*bad = 0;
	return worst;
}

bool sx_mapsnap_writable(const struct mapsnap *s, uint64_t a, uint64_t len, uint64_t *lo,
			 uint64_t *hi)
{
	size_t i = FIRST_ABOVE(s->v, s->n, end, a), j;
	uint64_t pos = a;

	for (j = i; pos < a + len; j++) {
		if (j >= s->n || s->v[j].start > pos || !s->v[j].writable)
			return false;
		pos = s->v[j].end;
	}
	*lo = s->v[i].start;
	*hi = pos;
	return true;
}
