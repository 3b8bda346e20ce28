// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/simpler/stats (module-wide counters) and
 * /sys/kernel/debug/simpler/domains/<id> (one file per open: owner, buffers,
 * members).  Read-only; the format is for humans and tests, not an ABI.
 */
#include <linux/debugfs.h>
#include <linux/pid.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "internal.h"

static struct dentry *simpler_dbg_root;
static struct dentry *simpler_dbg_domains;

static const char *const simpler_state_names[] = {
	[SIMPLER_BUF_PENDING] = "pending",
	[SIMPLER_BUF_LIVE] = "live",
	[SIMPLER_BUF_SUSPECT] = "suspect",
	[SIMPLER_BUF_STALE_ST] = "stale",
	[SIMPLER_BUF_REVOKED] = "revoked",
};

static int simpler_stats_show(struct seq_file *s, void *unused)
{
#define SHOW(name) seq_printf(s, "%-14s %lld\n", #name, atomic64_read(&simpler_stats.name))
	SHOW(pinned_pages);
	SHOW(buffers);
	SHOW(domains);
	SHOW(members);
	SHOW(registers);
	SHOW(unregisters);
	SHOW(faults);
	SHOW(invalidations);
	SHOW(verifies);
	SHOW(stale);
	SHOW(forks);
	SHOW(zap_fallbacks);
#undef SHOW
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(simpler_stats);

static int simpler_domain_show(struct seq_file *s, void *unused)
{
	struct simpler_domain *dom = s->private;
	struct simpler_member *m;
	struct simpler_buf *buf;
	unsigned long handle;

	mutex_lock(&dom->lock);
	/* pids as the reader's pid namespace sees them */
	seq_printf(s, "owner_pid %d\npinned_pages %ld\nbuffers %u\nmembers %u\n",
		   pid_vnr(dom->owner_pid), atomic_long_read(&dom->pinned_pages), dom->nr_bufs,
		   dom->nr_members);
	xa_for_each(&dom->bufs, handle, buf)
		seq_printf(s, "buffer %lu addr 0x%lx pages %lu offset %lu state %s maps %d\n",
			   handle, buf->addr, buf->npages, buf->pgoff,
			   simpler_state_names[READ_ONCE(buf->state)],
			   atomic_read(&buf->nr_maps));
	list_for_each_entry(m, &dom->members, node)
		seq_printf(s, "member %u pid %d vmas_at_fork %u\n", m->id, simpler_member_pid(m),
			   m->nr_ident);
	mutex_unlock(&dom->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(simpler_domain);

void simpler_debugfs_init(void)
{
	simpler_dbg_root = debugfs_create_dir("simpler", NULL);
	debugfs_create_file("stats", 0444, simpler_dbg_root, NULL, &simpler_stats_fops);
	simpler_dbg_domains = debugfs_create_dir("domains", simpler_dbg_root);
}

void simpler_debugfs_exit(void)
{
	debugfs_remove(simpler_dbg_root);
}

void simpler_debugfs_domain_add(struct simpler_domain *dom)
{
	char name[24];

	snprintf(name, sizeof(name), "%llu", dom->id);
	dom->dbg = debugfs_create_file(name, 0444, simpler_dbg_domains, dom,
				       &simpler_domain_fops);
}

void simpler_debugfs_domain_remove(struct simpler_domain *dom)
{
	debugfs_remove(dom->dbg);
}
