/*
 * hnswbuildgraph.c
 *	  CREATE INDEX, the graph in memory: its arrays and their growth, the
 *	  HnswSource over them, the insert of one row (the paper's INSERT on
 *	  the in-memory lists, under striped LWLocks in a parallel build), and
 *	  the reachability repair that runs before the graph is written.
 */
#include "compat.h"

#include <float.h>

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnswbuild.h"


/* ---------------------------------------------------------------- memory */

/* Bytes the graph needs per node, besides upper-level links. */
Size
HnswBuildNodeBytes(const HnswState *st)
{
	return st->item_size + sizeof(uint32) * 2 * st->m + sizeof(uint16) + sizeof(uint8) +
		sizeof(ItemPointerData) + sizeof(uint64) + sizeof(uint32) * 2 /* chain, visited */ +
		st->filter_size;
}

static void *
growArray(void *p, Size elem, uint32 newcap)
{
	if (p == NULL)
		return palloc_extended(elem * newcap, MCXT_ALLOC_HUGE);
	return repalloc_huge(p, elem * newcap);
}

void
HnswBuildGrow(HnswBuildState *bs)
{
	uint32		newcap = Min(bs->limit, Max(1024, bs->cap * 2));
	HnswState  *st = &bs->st;

	/* with variable-length items, item_size is that of an offset */
	if (st->item_refs)
		bs->item_off = growArray(bs->item_off, sizeof(uint64), newcap);
	else
		bs->items = growArray(bs->items, st->item_size, newcap);
	bs->links0 = growArray(bs->links0, sizeof(uint32) * 2 * st->m, newcap);
	bs->nlinks0 = growArray(bs->nlinks0, sizeof(uint16), newcap);
	bs->levels = growArray(bs->levels, sizeof(uint8), newcap);
	bs->tids = growArray(bs->tids, sizeof(ItemPointerData), newcap);
	if (st->nfilters > 0)
		bs->filters = growArray(bs->filters, st->filter_size, newcap);
	bs->upper = growArray(bs->upper, sizeof(uint64), newcap);
	bs->dup_next = growArray(bs->dup_next, sizeof(uint32), newcap);
	bs->cap = newcap;
}


/*
 * Words for a node's upper lists, zeroed, as an offset into the arena; 0
 * when a parallel build's arena is full.
 */
static uint64
allocUpper(HnswBuildState *bs, int level)
{
	uint64		words = (uint64) level * (bs->st.m + 1);
	uint64		off;

	if (bs->shared)
	{
		off = pg_atomic_fetch_add_u64(&bs->shared->arena_used, words);
		if (off + words > bs->shared->arena_words)
			return 0;
	}
	else
	{
		if (bs->arena_used + words > bs->arena_cap)
		{
			uint64		cap = Max(bs->arena_cap * 2, bs->arena_used + words + 1024);

			bs->arena = repalloc_huge(bs->arena, sizeof(uint32) * cap);
			bs->arena_cap = cap;
		}
		off = bs->arena_used;
		bs->arena_used += words;
	}
	memset(bs->arena + off, 0, sizeof(uint32) * words);
	return off;
}

/* The lists of node id, in a parallel build; no-ops when serial. */
static inline void
lockNode(HnswBuildState *bs, uint32 id, LWLockMode mode)
{
	if (bs->locks)
		LWLockAcquire(&bs->locks[id % HNSW_BUILD_STRIPES], mode);
}

static inline void
unlockNode(HnswBuildState *bs, uint32 id)
{
	if (bs->locks)
		LWLockRelease(&bs->locks[id % HNSW_BUILD_STRIPES]);
}

static void
getEntry(HnswBuildState *bs, uint32 *entry, int *level)
{
	if (bs->shared)
	{
		LWLockAcquire(&bs->shared->entry_lock, LW_SHARED);
		*entry = bs->shared->entry;
		*level = bs->shared->entry_level;
		LWLockRelease(&bs->shared->entry_lock);
	}
	else
	{
		*entry = bs->entry;
		*level = bs->entry_level;
	}
}

/*
 * Make id the entry point if its level beats the current one (or there is
 * none).  Returns whether the graph was empty.
 */
static bool
raiseEntry(HnswBuildState *bs, uint32 id, int level)
{
	uint32	   *entry = bs->shared ? &bs->shared->entry : &bs->entry;
	int		   *entry_level = bs->shared ? &bs->shared->entry_level : &bs->entry_level;
	bool		was_empty;

	if (bs->shared)
		LWLockAcquire(&bs->shared->entry_lock, LW_EXCLUSIVE);
	was_empty = *entry == HNSW_NO_NODE;
	if (was_empty || level > *entry_level)
	{
		*entry = id;
		*entry_level = level;
	}
	if (bs->shared)
		LWLockRelease(&bs->shared->entry_lock);
	return was_empty;
}

/* ---------------------------------------------------------------- source */


static int
memLinks(HnswSource *src, uint32 id, int level, uint32 *out)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;
	uint32		count = 0;
	uint32	   *links;

	if (level > 0 && (bs->levels[id] < level || bs->levels[id] == HNSW_BUILD_DUP))
		return 0;
	lockNode(bs, id, LW_SHARED);
	links = HnswBuildLinks(bs, id, level, &count);
	memcpy(out, links, sizeof(uint32) * count);
	unlockNode(bs, id);
	return count;
}

static void
memScore(HnswSource *src, const void *query, const uint32 *ids, int n, HnswCand *cands)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;

	/* the graph is far larger than the caches: overlap the batch's misses */
	for (int i = 0; i < n; i++)
	{
		const char *item = FixedItem(bs, ids[i]);

		/* with codes, the record at the bundle's start is what is scored */
		for (Size off = 0; off < (bs->codes ? 64 + bs->disk.item_size : bs->st.item_size); off += 64)
			__builtin_prefetch(item + off);
	}
	if (bs->codes)
	{
		const char *recs[2 * HNSW_MAX_M];

		for (int i = 0; i < n; i++)
			recs[i] = HnswBundleRecord(FixedItem(bs, ids[i]));
		HnswScoreRecords(&bs->disk, query, recs, n, cands, get_float4_infinity());
	}
	for (int i = 0; i < n; i++)
	{
		cands[i].id = ids[i];
		if (!bs->codes)
			cands[i].dist = HnswDist(&bs->st, query, FixedItem(bs, ids[i]));
		cands[i].dup_next = bs->dup_next[ids[i]];
		cands[i].deleted = 0;
		cands[i].self_dead = 0;
		cands[i].level = HNSW_LEVEL_ANY;
		cands[i].nomatch = 0;
	}
}

/* memScore for variable-length items, chosen once in HnswBuildInitParticipant */
static void
memScoreVar(HnswSource *src, const void *query, const uint32 *ids, int n, HnswCand *cands)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;

	for (int i = 0; i < n; i++)
		__builtin_prefetch(VarItem(bs, ids[i]));
	for (int i = 0; i < n; i++)
	{
		cands[i].id = ids[i];
		cands[i].dist = HnswDist(&bs->st, query, VarItem(bs, ids[i]));
		cands[i].dup_next = bs->dup_next[ids[i]];
		cands[i].deleted = 0;
		cands[i].self_dead = 0;
		cands[i].level = HNSW_LEVEL_ANY;
		cands[i].nomatch = 0;
	}
}

static void
memPrefetch(HnswSource *src, uint32 id, int level)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;

	if (level == 0)
	{
		const char *l = (const char *) BuildLinks0(bs, id);

		for (Size off = 0; off < sizeof(uint32) * 2 * bs->st.m; off += 64)
			__builtin_prefetch(l + off);
	}
}

static const char *memItem(HnswInserter *ins, uint32 id, char *buf);
static void memChain(HnswInserter *ins, uint32 head, uint32 id);
static void memWriteList(HnswInserter *ins, uint32 id, int level, const uint32 *links, int n);
static void memBackLinks(HnswInserter *ins, uint32 id, int level, const void *item,
						 const uint32 *sel, int nsel, int nheur);

/* Search scratch, the in-memory source and inserter, for one participant. */
void
HnswBuildInitParticipant(HnswBuildState *bs, uint32 nodes)
{
	HnswState  *st = &bs->st;

	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build temporary context",
									   ALLOCSET_DEFAULT_SIZES);
	/* the callback's stored item of the type (with codes, not a bundle) */
	bs->itembuf = palloc0(Max(st->item_max, MAXALIGN(st->ops->item_size(st->dim))));
	bs->filterbuf = palloc0(HnswFilterSize(st->filter_words));
	HnswVisitedInitDense(&bs->visited, nodes);
	HnswHeapInit(&bs->cands, st->ef_construction * 4, false);
	HnswHeapInit(&bs->results, st->ef_construction + 1, true);
	bs->src.links = memLinks;
	bs->src.score = st->item_refs ? memScoreVar : memScore;
	bs->src.prefetch = memPrefetch;
	bs->src.item = NULL;		/* the build does not edit lists on disk */
	bs->src.wrote = NULL;
	bs->src.stale = NULL;
	bs->src.state = (HnswState *) bs;
	bs->src.filter = NULL;
	bs->src.may = NULL;
	bs->src.lower_cut = get_float4_infinity();
	memset(&bs->ins, 0, sizeof(bs->ins));
	bs->ins.src = &bs->src;
	bs->ins.st = st;
	bs->ins.arg = bs;
	bs->ins.item = memItem;
	bs->ins.chain = memChain;
	bs->ins.write_list = memWriteList;
	bs->ins.back_links = memBackLinks;
	bs->ins.visited = &bs->visited;
	bs->ins.cands = &bs->cands;
	bs->ins.results = &bs->results;
	HnswInserterScratch(&bs->ins);
}

/* ---------------------------------------------------------------- insert */

/*
 * Room for a variable-length item of len bytes in the arena, as the offset
 * of a MAXALIGN'd chunk; false when the graph is full.  Serial: the arena
 * grows, but not past maintenance_work_mem together with the nodes, the
 * next one counted.  Parallel: the arena in the DSM segment has a fixed
 * size, and the chunks come from an atomic bump pointer; once it has
 * passed the end, every later request fails too.  Taken before the node
 * id (HnswBuildInsert), so that every id handed out has its item; a chunk
 * taken for a row that then gets no id is lost, but the graph is full
 * then anyway.
 */
static bool
reserveVarItem(HnswBuildState *bs, Size len, uint64 *off)
{
	Size		chunk = MAXALIGN(len);
	Size		need;

	if (bs->shared)
	{
		*off = pg_atomic_fetch_add_u64(&bs->shared->vitems_used, chunk);
		return *off + chunk <= bs->vitems_cap;
	}
	need = bs->vitems_used + chunk;
	if ((double) (bs->n + 1) * bs->node_cost + need > bs->budget)
		return false;
	if (need > bs->vitems_cap)
	{
		Size		cap = Max(need, Min(bs->vitems_cap * 2, bs->budget));

		/* (repalloc keeps the graph's context; we run in the tuple's) */
		bs->vitems = repalloc_huge(bs->vitems, cap);
		bs->vitems_cap = cap;
	}
	*off = bs->vitems_used;
	bs->vitems_used = need;
	return true;
}

/* The list of id on level, as (pointer to links, pointer to count). */
uint32 *
HnswBuildLinks(HnswBuildState *bs, uint32 id, int level, uint32 *count)
{
	if (level == 0)
	{
		*count = bs->nlinks0[id];
		return BuildLinks0(bs, id);
	}
	*count = BuildUpper(bs, id, level)[0];
	return BuildUpper(bs, id, level) + 1;
}

/* Replace a list; the caller holds id's stripe (or is serial). */
static void
setLinks(HnswBuildState *bs, uint32 id, int level, const uint32 *links, int n)
{
	if (level == 0)
	{
		memcpy(BuildLinks0(bs, id), links, sizeof(uint32) * n);
		bs->nlinks0[id] = n;
	}
	else
	{
		uint32	   *up = BuildUpper(bs, id, level);

		up[0] = n;
		memcpy(up + 1, links, sizeof(uint32) * n);
	}
}

/*
 * Add the link base -> id on level; when the list is full, shrink the list
 * plus the newcomer with the selection heuristic, and fill it back up with
 * the nearest pruned ones to only half: the room left makes the next
 * back-links cheap appends.  Measured on sift-128 (one worker + leader;
 * recall@10 at ef_search 20 / 40 / 80): not filling, 5.2 s and 0.922 /
 * 0.968 / 0.991; to a half, 5.6 s and 0.931 / 0.972 / 0.992; to three
 * quarters, 6.2 s and 0.938 / 0.976 / 0.994; full, 12.7 s and 0.943 /
 * 0.978 / 0.994, at about the same queries/s for each ef_search.  On
 * glove-100 half raised recall at ef_search 80 from 0.923 to 0.925 and
 * three quarters to 0.933, for no build time; but three quarters cut
 * recall on 100 far-apart clusters (test/t/030_halfvec_recall.pl, l2) from
 * 1.0 to 0.96: fuller lists leave fewer long links between clusters.
 * force keeps the newcomer in any case (see HnswKeepLink).  Returns
 * whether the link was kept.
 */
static bool
addBackLink(HnswBuildState *bs, uint32 base, uint32 id, int level, bool force)
{
	HnswState  *st = &bs->st;
	int			maxlinks = HnswMaxLinks(st->m, level);
	uint32		count;
	uint32	   *links;
	HnswCand	cands[2 * HNSW_MAX_M + 1];
	const char *items[2 * HNSW_MAX_M + 1];
	uint32		kept[2 * HNSW_MAX_M];
	int			nkept;
	const char *baseitem = BuildItem(bs, base);
	bool		linked;

	/* the items are immutable: only the list needs base's stripe */
	lockNode(bs, base, LW_EXCLUSIVE);
	links = HnswBuildLinks(bs, base, level, &count);
	if (HnswHasLink(links, count, id))
	{
		unlockNode(bs, base);
		return true;
	}
	if (count < (uint32) maxlinks)
	{
		links[count] = id;
		setLinks(bs, base, level, links, count + 1);
		unlockNode(bs, base);
		return true;
	}

	for (uint32 i = 0; i <= count; i++)
	{
		cands[i].id = i < count ? links[i] : id;
		cands[i].dist = HnswDist(st, baseitem, BuildItem(bs, cands[i].id));
	}
	HnswSortCands(cands, count + 1, base);
	for (uint32 i = 0; i <= count; i++)
		items[i] = BuildItem(bs, cands[i].id);
	nkept = HnswSelectNeighbours(st, cands, count + 1, items, maxlinks, maxlinks / 2, kept);
	nkept = HnswKeepLink(kept, nkept, maxlinks, id, force);
	setLinks(bs, base, level, kept, nkept);
	linked = HnswHasLink(kept, nkept, id);
	unlockNode(bs, base);
	return linked;
}

/* Back-links from every selected neighbour; whether any kept the link. */
/*
 * Take the next node id; false when the graph is full (serial: it cannot
 * grow past the memory limit; parallel: the shared arrays are full).
 */
static bool
allocNodeId(HnswBuildState *bs, uint32 *id)
{
	if (bs->shared)
	{
		*id = pg_atomic_fetch_add_u32(&bs->shared->n, 1);
		return *id < bs->shared->cap;
	}
	if (bs->n >= bs->limit)
		return false;
	if (bs->n == bs->cap)
		HnswBuildGrow(bs);
	*id = bs->n++;
	return true;
}

/* HnswInserter callbacks: the graph in memory */
static const char *
memItem(HnswInserter *ins, uint32 id, char *buf)
{
	return BuildItem((HnswBuildState *) ins->arg, id);
}

/* With codes: is id's record the new row's (see diskSame in hnswinsert.c)? */
static bool
memSame(HnswInserter *ins, uint32 id)
{
	HnswBuildState *bs = (HnswBuildState *) ins->arg;

	return memcmp(HnswBundleRecord(FixedItem(bs, id)), HnswBundleRecord(bs->newbundle),
				  bs->disk.item_size) == 0;
}

static const uint32 *
memFilterOf(HnswInserter *ins, uint32 id, uint32 *buf)
{
	return BuildFilter((HnswBuildState *) ins->arg, id);
}

static void
memChain(HnswInserter *ins, uint32 head, uint32 id)
{
	HnswBuildState *bs = (HnswBuildState *) ins->arg;

	lockNode(bs, head, LW_EXCLUSIVE);
	bs->dup_next[id] = bs->dup_next[head];
	bs->levels[id] = HNSW_BUILD_DUP;
	bs->dup_next[head] = id;
	unlockNode(bs, head);
}

static void
memWriteList(HnswInserter *ins, uint32 id, int level, const uint32 *links, int n)
{
	HnswBuildState *bs = (HnswBuildState *) ins->arg;

	lockNode(bs, id, LW_EXCLUSIVE);
	setLinks(bs, id, level, links, n);
	unlockNode(bs, id);
}

/*
 * Back-links fill a full list only to half, and a member one pushes out
 * is not re-homed (README.md, section 1, item 2: filling completely
 * doubles the build time on sift-128 for 0.004-0.009 of recall).
 */
static void
memBackLinks(HnswInserter *ins, uint32 id, int level, const void *item,
			 const uint32 *sel, int nsel, int nheur)
{
	HnswBuildState *bs = (HnswBuildState *) ins->arg;
	bool		linked = false;

	for (int i = 0; i < nsel; i++)
		linked |= addBackLink(bs, sel[i], id, level, false);
	if (!linked)
		addBackLink(bs, sel[0], id, level, true);
}


/*
 * Insert one item into the in-memory graph.  As on disk, the neighbours on
 * every level are chosen first, then the node's own lists are written,
 * then the back-links, so that other participants of a parallel build
 * never reach a node with empty lower lists.  Returns false when the graph
 * is full and the item was not inserted.
 */
bool
HnswBuildInsert(HnswBuildState *bs, const char *item, const uint32 *filter, ItemPointer tid)
{
	HnswState  *st = &bs->st;
	uint32		id;
	int			level = HnswRandomLevel(st->m, pg_prng_double(&bs->prng));
	uint32		entry;
	int			entry_level;
	Size		len = 0;
	uint64		off = 0;

	/* with codes, the node is its bundle, and the searches score its query */
	if (bs->codes)
	{
		HnswMakeBundle(&bs->disk, item, bs->newbundle);
		HnswPrepareQuery(&bs->disk, item, false, bs->qbuf);
		bs->ins.query = bs->qbuf;
		bs->ins.same = memSame;
		item = bs->newbundle;
	}
	if (bs->item_off)
	{
		len = st->ops->item_len(item);
		if (!reserveVarItem(bs, len, &off))
			return false;
	}
	if (!allocNodeId(bs, &id))
		return false;
	if (bs->item_off)
	{
		memcpy(bs->vitems + off, item, len);
		bs->item_off[id] = off;
	}
	else
		memcpy(FixedItem(bs, id), item, st->item_size);
	bs->tids[id] = *tid;
	if (st->nfilters > 0)
	{
		memcpy(BuildFilter(bs, id), filter, st->filter_size);
		bs->ins.filter = filter;
		bs->ins.filter_of = memFilterOf;
	}
	bs->levels[id] = level;
	bs->nlinks0[id] = 0;
	bs->dup_next[id] = HNSW_NO_NODE;
	bs->upper[id] = 0;
	/*
	 * A parallel build's arena for upper lists is full (it has three times
	 * the expected need): the node stays on level 0 rather than leave a
	 * taken id without lists in a graph that is kept.
	 */
	if (level > 0 && (bs->upper[id] = allocUpper(bs, level)) == 0)
	{
		level = 0;
		bs->levels[id] = 0;
	}
	/* the first node; else readers learn of this node only through links */
	pg_write_barrier();
	getEntry(bs, &entry, &entry_level);
	if (entry == HNSW_NO_NODE && raiseEntry(bs, id, level))
		return true;
	getEntry(bs, &entry, &entry_level);

	if (HnswInsertNode(&bs->ins, id, item, level, entry, entry_level))
		return true;

	if (level > entry_level)
		raiseEntry(bs, id, level);
	return true;
}

/* ---------------------------------------------------------------- reach */

/*
 * The slot of base's layer-0 list that the repair may give to a new link,
 * or -1: a free one, else HnswRepairVictim's.
 */
static int
repairSlot(HnswBuildState *bs, uint32 base, const uint32 *parent)
{
	HnswState  *st = &bs->st;
	uint32		count;
	const uint32 *links = HnswBuildLinks(bs, base, 0, &count);
	const char *baseitem;
	float		dist[2 * HNSW_MAX_M];

	if (count < (uint32) HnswMaxLinks(st->m, 0))
		return count;
	baseitem = BuildItem(bs, base);
	for (uint32 i = 0; i < count; i++)
		/* a link past the last node (none is expected) goes first */
		dist[i] = links[i] >= bs->n ? FLT_MAX : HnswDist(st, baseitem, BuildItem(bs, links[i]));
	return HnswRepairVictim(base, links, dist, count, parent, bs->n);
}

/* Link id from base on layer 0, into slot (repairSlot's choice). */
static void
repairLink(HnswBuildState *bs, uint32 base, uint32 id, int slot)
{
	uint32		count;
	uint32	   *links;

	lockNode(bs, base, LW_EXCLUSIVE);
	links = HnswBuildLinks(bs, base, 0, &count);
	if ((uint32) slot == count)
		links[count++] = id;
	else
		links[slot] = id;
	setLinks(bs, base, 0, links, count);
	unlockNode(bs, base);
}

/*
 * Make every node reachable from the entry point before the graph is
 * written.  Each insert links its node from a neighbour, but later shrinks
 * of neighbour lists can close a group of nodes off: they link to each
 * other, and nothing outside links to them.  On a 64-dimensional curve of
 * 60,000 points that was 1.3% of the nodes.  For each node the walk from the
 * entry point does not reach, search for it from the entry point and link
 * it from a reached node found near it; everything reachable from it is
 * then reached too.  The walk follows layer-0 links only: an iterative scan
 * goes on along those alone, and a node only an upper-level link reaches is
 * missed by every scan whose level-1 beam does not hold it (README.md,
 * "Reachability repair").
 *
 * The walk records its tree (each node's parent, the node whose link first
 * reached it), and a forced link takes a free slot or the place of a link
 * outside the tree, never a tree edge: then no node the walk reached loses
 * its way in, and one pass links every node.  Such a slot always exists
 * among the reached nodes: n reached nodes hold at most n - 1 tree edges,
 * and each holds at least two slots.  (Replacing links that other reached
 * nodes also pointed to was not enough: those could be reached only through
 * the link replaced, and 66 near-parallel rows under cosine, m 2, 8 bits,
 * kept 16 nodes unreachable after ten rounds.)
 */
void
HnswBuildRepairReach(HnswBuildState *bs)
{
	HnswState  *st = &bs->st;
	HnswWalk	walk;
	uint8	   *reached;
	uint32	   *parent;
	uint32		linked = 0;
	uint32		left = 0;

	if (bs->n < 2 || bs->entry == HNSW_NO_NODE)
		return;
	HnswWalkInit(&walk, &bs->src, bs->n, bs->levels, bs->dup_next, bs);
	walk.layer0 = true;
	reached = walk.reached;
	parent = palloc_extended(sizeof(uint32) * bs->n, MCXT_ALLOC_HUGE);
	memset(parent, 0xFF, sizeof(uint32) * bs->n);
	walk.parent = parent;
	HnswWalkFrom(&walk, bs->entry);

	for (uint32 u = 0; u < bs->n; u++)
	{
		const char *item = BuildItem(bs, u);
		const void *query;
		HnswCand	ep;
		uint32		best = HNSW_NO_NODE;
		int			slot = -1;

		if (reached[u] || bs->levels[u] == HNSW_BUILD_DUP)
			continue;
		CHECK_FOR_INTERRUPTS();
		query = bs->codes ? HnswBundleQuery(&bs->disk, item, bs->qbuf) : item;

		/*
		 * The nearest reached node with room in its list, so that the new
		 * link pushes no other out; else the nearest with a link outside
		 * the tree.  Found by a search that descends the upper levels; when
		 * that ends among nodes layer 0 does not reach (an upper-level link
		 * leads there), by one on layer 0 from the entry point, where
		 * everything it meets is reached.
		 */
		for (int from_entry = 0; from_entry < 2 && best == HNSW_NO_NODE; from_entry++)
		{
			ep = HnswGreedyDescend(&bs->src, query, bs->entry,
								   from_entry ? 0 : bs->entry_level, 0);
			HnswVisitedReset(&bs->visited);
			bs->cands.n = bs->results.n = 0;
			HnswVisitedAdd(&bs->visited, ep.id);
			HnswHeapPush(&bs->cands, &ep);
			HnswHeapPush(&bs->results, &ep);
			HnswSearchLayer(&bs->src, query, &bs->cands, &bs->results, st->ef_construction, 0,
							&bs->visited, NULL);
			HnswSortCands(bs->results.items, bs->results.n, u);
			for (int pass = 0; pass < 2 && best == HNSW_NO_NODE; pass++)
				for (int i = 0; i < bs->results.n && best == HNSW_NO_NODE; i++)
				{
					uint32		c = bs->results.items[i].id;

					if (c == u || !reached[c] || bs->levels[c] == HNSW_BUILD_DUP)
						continue;
					if (pass == 0 ? bs->nlinks0[c] < HnswMaxLinks(st->m, 0) :
						(slot = repairSlot(bs, c, parent)) >= 0)
						best = c;
				}
		}
		/* none near: any reached node with a slot to give (one exists) */
		for (uint32 c = 0; c < bs->n && best == HNSW_NO_NODE; c++)
			if (c != u && reached[c] && bs->levels[c] != HNSW_BUILD_DUP &&
				(slot = repairSlot(bs, c, parent)) >= 0)
				best = c;
		if (best == HNSW_NO_NODE)
			continue;
		if (slot < 0)
			slot = repairSlot(bs, best, parent);
		repairLink(bs, best, u, slot);
		HnswWalkFrom(&walk, u);
		parent[u] = best;
		linked++;
	}
	if (linked > 0)
	{
		for (uint32 u = 0; u < bs->n; u++)
			left += !reached[u];
		/*
		 * DEBUG2: after a parallel build the count depends on how the
		 * participants' inserts interleaved, and the build's DEBUG1 lines
		 * (serial or parallel, how many workers) are what tests print.
		 */
		ereport(DEBUG2,
				(errmsg("hnsw build linked %u unreachable nodes; %u left", linked, left)));
	}
	pfree(parent);
	HnswWalkFree(&walk);
}

