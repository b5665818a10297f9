/*
 * hnswbuild.c
 *	  CREATE INDEX: the graph is built in memory (bounded by
 *	  maintenance_work_mem), then written in one sequential pass and
 *	  WAL-logged as whole pages.  When the graph outgrows memory, what was
 *	  built is written out and the remaining rows go through the ordinary
 *	  on-disk insert path.
 *
 *	  With max_parallel_maintenance_workers, the graph lives in dynamic
 *	  shared memory and the leader and the workers insert into it together,
 *	  each scanning part of the heap; node lists are guarded by striped
 *	  LWLocks.  A parallel build whose graph would not fit in memory builds
 *	  serially instead, or, when memory would hold less than half of it,
 *	  inserts every row on disk in parallel; one whose estimate was wrong
 *	  is redone serially (README.md).
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

#include "hnsw.h"

/* parallel build: how many LWLocks guard the node lists */
#define HNSW_BUILD_STRIPES	1024

/*
 * Of maintenance_work_mem, what a parallel build keeps for everything but
 * the shared graph (pgvector's figure, so that a parallel build outgrows
 * memory, and says so, where pgvector's does).
 */
#define HNSW_PARALLEL_RESERVE	((Size) 3 * 1024 * 1024)

/* shared state of a parallel build, in the DSM segment */
typedef struct HnswShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	bool		ondisk;			/* no shared graph: insert on disk */
	uint32		cap;			/* nodes the arrays hold */
	uint64		arena_words;	/* uint32 words in the upper-list arena */
	int			tranche_id;
	pg_atomic_uint32 n;			/* next node id */
	pg_atomic_uint64 arena_used;
	pg_atomic_uint32 overflow;	/* the graph did not fit: redo serially */
	slock_t		mutex;			/* protects the sums below */
	double		reltuples;
	double		indtuples;
	LWLock		entry_lock;		/* protects entry, entry_level */
	uint32		entry;
	int			entry_level;
	LWLock		stripes[HNSW_BUILD_STRIPES];
} HnswShared;

/* DSM table-of-contents keys */
#define HNSW_KEY_SHARED		UINT64CONST(0xA000000000000001)
#define HNSW_KEY_SCAN		UINT64CONST(0xA000000000000002)
#define HNSW_KEY_ITEMS		UINT64CONST(0xA000000000000003)
#define HNSW_KEY_LINKS0		UINT64CONST(0xA000000000000004)
#define HNSW_KEY_NLINKS0	UINT64CONST(0xA000000000000005)
#define HNSW_KEY_LEVELS		UINT64CONST(0xA000000000000006)
#define HNSW_KEY_TIDS		UINT64CONST(0xA000000000000007)
#define HNSW_KEY_UPPER		UINT64CONST(0xA000000000000008)
#define HNSW_KEY_DUPNEXT	UINT64CONST(0xA000000000000009)
#define HNSW_KEY_ARENA		UINT64CONST(0xA00000000000000A)

PGDLLEXPORT void HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc);

typedef struct HnswBuildState
{
	HnswState	st;
	Relation	heap;
	double		reltuples;		/* heap rows seen */
	double		indtuples;		/* rows indexed */
	MemoryContext tmpCtx;		/* per tuple */
	char	   *itembuf;		/* one item, for the callback */
	pg_prng_state prng;			/* levels: fixed seed, repeatable builds */
	bool		spilled;		/* graph written; inserting on disk */

	/*
	 * The in-memory graph.  Node i's item is at items + i * item_size; for
	 * variable-length items (st.item_refs, serial builds only) at vitems +
	 * item_off[i] instead, packed in an arena of vitems_used bytes.
	 */
	uint32		n;
	uint32		cap;
	uint32		limit;			/* most nodes maintenance_work_mem holds */
	char	   *items;
	uint64	   *item_off;
	char	   *vitems;
	Size		vitems_used;
	Size		vitems_cap;
	Size		budget;			/* maintenance_work_mem, in bytes */
	double		node_cost;		/* bytes per node besides its item */
	uint32	   *links0;			/* 2m per node */
	uint16	   *nlinks0;
	uint8	   *levels;
	ItemPointerData *tids;
	uint64	   *upper;			/* per node: offset in arena of levels x
								 * (count, m links); 0 = none */
	uint32	   *dup_next;		/* duplicate chains (README.md, "Duplicates") */
	uint32	   *arena;			/* upper lists */
	uint64		arena_cap;		/* words (serial; shared->arena_words) */
	uint64		arena_used;		/* words (serial) */
	uint32		entry;
	int			entry_level;

	/* parallel build: shared state, and the stripes guarding node lists */
	HnswShared *shared;
	LWLock	   *locks;

	/* search scratch, reused by every insert */
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	HnswSource	src;
} HnswBuildState;

/* ---------------------------------------------------------------- memory */

/* Bytes the graph needs per node, besides upper-level links. */
static Size
nodeBytes(const HnswState *st)
{
	return st->item_size + sizeof(uint32) * 2 * st->m + sizeof(uint16) + sizeof(uint8) +
		sizeof(ItemPointerData) + sizeof(uint64) + sizeof(uint32) * 2 /* chain, visited */ ;
}

static void *
growArray(void *p, Size elem, uint32 newcap)
{
	if (p == NULL)
		return palloc_extended(elem * newcap, MCXT_ALLOC_HUGE);
	return repalloc_huge(p, elem * newcap);
}

static void
growGraph(HnswBuildState *bs)
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
	bs->upper = growArray(bs->upper, sizeof(uint64), newcap);
	bs->dup_next = growArray(bs->dup_next, sizeof(uint32), newcap);
	bs->cap = newcap;
}

/* levels[] value of a chained duplicate: written as level 0, flag DUP */
#define HNSW_BUILD_DUP		0xFF

#define FixedItem(bs, id)	((bs)->items + (Size) (id) * (bs)->st.item_size)
#define VarItem(bs, id)		((bs)->vitems + (bs)->item_off[id])
#define BuildItem(bs, id)	((bs)->item_off ? VarItem(bs, id) : FixedItem(bs, id))
#define BuildLinks0(bs, id) ((bs)->links0 + (Size) (id) * 2 * (bs)->st.m)
#define BuildUpper(bs, id, level) \
	((bs)->arena + (bs)->upper[id] + ((level) - 1) * ((bs)->st.m + 1))

/*
 * Words for a node's upper lists, zeroed, as an offset into the arena; 0
 * when a parallel build's arena is full (the build is then redone).
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

static uint32 *linkList(HnswBuildState *bs, uint32 id, int level, uint32 *count);

static int
memLinks(HnswSource *src, uint32 id, int level, uint32 *out)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;
	uint32		count = 0;
	uint32	   *links;

	if (level > 0 && (bs->levels[id] < level || bs->levels[id] == HNSW_BUILD_DUP))
		return 0;
	lockNode(bs, id, LW_SHARED);
	links = linkList(bs, id, level, &count);
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

		for (Size off = 0; off < bs->st.item_size; off += 64)
			__builtin_prefetch(item + off);
	}
	for (int i = 0; i < n; i++)
	{
		cands[i].id = ids[i];
		cands[i].dist = HnswDist(&bs->st, query, FixedItem(bs, ids[i]));
		cands[i].dup_next = bs->dup_next[ids[i]];
		cands[i].deleted = 0;
		cands[i].self_dead = 0;
	}
}

/* memScore for variable-length items, chosen once in initParticipant */
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

/* ---------------------------------------------------------------- insert */

/*
 * Copy a variable-length item into the arena as node id's (serial builds
 * only); false when it would take the graph past maintenance_work_mem.
 */
static bool
storeVarItem(HnswBuildState *bs, uint32 id, const char *item)
{
	Size		len = bs->st.ops->item_len(item);
	Size		need = bs->vitems_used + MAXALIGN(len);

	if ((double) bs->n * bs->node_cost + need > bs->budget)
		return false;
	if (need > bs->vitems_cap)
	{
		Size		cap = Max(need, Min(bs->vitems_cap * 2, bs->budget));

		/* (repalloc keeps the graph's context; we run in the tuple's) */
		bs->vitems = repalloc_huge(bs->vitems, cap);
		bs->vitems_cap = cap;
	}
	memcpy(bs->vitems + bs->vitems_used, item, len);
	bs->item_off[id] = bs->vitems_used;
	bs->vitems_used = need;
	return true;
}

/* The list of id on level, as (pointer to links, pointer to count). */
static uint32 *
linkList(HnswBuildState *bs, uint32 id, int level, uint32 *count)
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
	links = linkList(bs, base, level, &count);
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
static bool
addBackLinks(HnswBuildState *bs, const uint32 *sel, int nsel, uint32 id, int level)
{
	bool		linked = false;

	for (int i = 0; i < nsel; i++)
		linked |= addBackLink(bs, sel[i], id, level, false);
	return linked || nsel == 0;
}

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
		growGraph(bs);
	*id = bs->n++;
	return true;
}

/*
 * Insert one item into the in-memory graph.  As on disk, the neighbours on
 * every level are chosen first, then the node's own lists are written,
 * then the back-links, so that other participants of a parallel build
 * never reach a node with empty lower lists.  Returns false when the graph
 * is full and the item was not inserted.
 */
static bool
buildInsert(HnswBuildState *bs, const char *item, ItemPointer tid)
{
	HnswState  *st = &bs->st;
	uint32		id;
	int			level = HnswRandomLevel(st->m, pg_prng_double(&bs->prng));
	uint32		entry;
	int			entry_level;
	int			top;
	HnswCand	ep;
	HnswCand   *w;
	const char **witems;
	uint32	   *sel[HNSW_MAX_LEVEL + 1];
	int			nsel[HNSW_MAX_LEVEL + 1];

	if (!allocNodeId(bs, &id))
		return false;
	if (bs->item_off)
	{
		if (!storeVarItem(bs, id, item))
		{
			bs->n--;			/* the id was the last one taken (serial) */
			return false;
		}
	}
	else
		memcpy(FixedItem(bs, id), item, st->item_size);
	bs->tids[id] = *tid;
	bs->levels[id] = level;
	bs->nlinks0[id] = 0;
	bs->dup_next[id] = HNSW_NO_NODE;
	bs->upper[id] = 0;
	if (level > 0 && (bs->upper[id] = allocUpper(bs, level)) == 0)
		return false;
	/* the first node; else readers learn of this node only through links */
	pg_write_barrier();
	getEntry(bs, &entry, &entry_level);
	if (entry == HNSW_NO_NODE && raiseEntry(bs, id, level))
		return true;
	getEntry(bs, &entry, &entry_level);

	ep = HnswGreedyDescend(&bs->src, item, entry, entry_level, level);
	top = Min(level, entry_level);

	w = palloc_array(HnswCand, HnswEfConstruction(st, 1) + 1);
	witems = palloc_array(const char *, HnswEfConstruction(st, 1) + 1);
	bs->cands.n = 0;
	bs->results.n = 0;
	HnswHeapPush(&bs->cands, &ep);
	HnswHeapPush(&bs->results, &ep);
	for (int lc = top; lc >= 0; lc--)
	{
		int			nw;

		HnswVisitedReset(&bs->visited);
		HnswVisitedAdd(&bs->visited, id);
		for (int i = 0; i < bs->cands.n; i++)
			HnswVisitedAdd(&bs->visited, bs->cands.items[i].id);
		HnswSearchLayer(&bs->src, item, &bs->cands, &bs->results,
						HnswEfConstruction(st, lc),
						lc, &bs->visited, NULL);

		nw = bs->results.n;
		memcpy(w, bs->results.items, sizeof(HnswCand) * nw);
		HnswSortCands(w, nw, id);
		for (int i = 0; i < nw; i++)
			witems[i] = BuildItem(bs, w[i].id);
		/* an exact duplicate joins a chain, as in HnswInsertItem */
		if (level == 0 && nw > 0 && w[0].dist == 0 && HnswSameItem(st, witems[0], item))
		{
			lockNode(bs, w[0].id, LW_EXCLUSIVE);
			bs->dup_next[id] = bs->dup_next[w[0].id];
			bs->levels[id] = HNSW_BUILD_DUP;
			bs->dup_next[w[0].id] = id;
			unlockNode(bs, w[0].id);
			return true;
		}
		sel[lc] = palloc_array(uint32, HnswMaxLinks(st->m, lc));
		nsel[lc] = HnswSelectNeighbours(st, w, nw, witems, HnswMaxLinks(st->m, lc),
										 HnswMaxLinks(st->m, lc), sel[lc]);

		/* the whole result set seeds the next level down */
		bs->cands.n = 0;
		for (int i = 0; i < nw; i++)
			HnswHeapPush(&bs->cands, &w[i]);
	}

	lockNode(bs, id, LW_EXCLUSIVE);
	for (int lc = top; lc >= 0; lc--)
		setLinks(bs, id, lc, sel[lc], nsel[lc]);
	unlockNode(bs, id);
	for (int lc = top; lc >= 0; lc--)
	{
		if (!addBackLinks(bs, sel[lc], nsel[lc], id, lc))
			addBackLink(bs, sel[lc][0], id, lc, true);
		pfree(sel[lc]);
	}
	pfree(w);
	pfree(witems);

	if (level > entry_level)
		raiseEntry(bs, id, level);
	return true;
}

/* ---------------------------------------------------------------- reach */

/*
 * Mark everything reachable from start (links on every level, and the
 * duplicate chains hanging off reached nodes).  queue: n slots of scratch.
 */
static void
markReached(HnswBuildState *bs, uint8 *reached, uint32 start, uint32 *queue)
{
	uint32		head = 0,
				tail = 0;

	if (reached[start])
		return;
	reached[start] = 1;
	queue[tail++] = start;
	while (head < tail)
	{
		uint32		id = queue[head++];

		for (uint32 d = bs->dup_next[id]; d != HNSW_NO_NODE && !reached[d]; d = bs->dup_next[d])
			reached[d] = 1;
		if (bs->levels[id] == HNSW_BUILD_DUP)
			continue;
		for (int level = bs->levels[id]; level >= 0; level--)
		{
			uint32		count;
			uint32	   *links = linkList(bs, id, level, &count);

			for (uint32 i = 0; i < count; i++)
				if (!reached[links[i]])
				{
					reached[links[i]] = 1;
					queue[tail++] = links[i];
				}
		}
	}
}

/*
 * Make every node reachable from the entry point before the graph is
 * written.  Each insert links its node from a neighbour, but later shrinks
 * of neighbour lists can close a group of nodes off: they link to each
 * other, and nothing outside links to them.  On a 64-dimensional curve of
 * 60,000 points that was 1.3% of the nodes.  For each node the walk from the
 * entry point does not reach, search for it from the entry point and link
 * it from the nearest reached node found; everything reachable from it is
 * then reached too.  A forced link can push another out of a full list, so
 * the walk is redone, ten rounds at most.
 */
static void
repairReachability(HnswBuildState *bs)
{
	HnswState  *st = &bs->st;
	uint8	   *reached;
	uint32	   *queue;
	uint32		linked = 0;

	if (bs->n < 2 || bs->entry == HNSW_NO_NODE)
		return;
	reached = palloc_extended(bs->n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	queue = palloc_extended(sizeof(uint32) * bs->n, MCXT_ALLOC_HUGE);
	markReached(bs, reached, bs->entry, queue);

	for (int round = 0; round < 10; round++)
	{
		uint32		missing = 0;

		for (uint32 u = 0; u < bs->n; u++)
		{
			const char *item = BuildItem(bs, u);
			HnswCand	ep;
			uint32		best = HNSW_NO_NODE;
			float		bestd = FLT_MAX;

			if (reached[u] || bs->levels[u] == HNSW_BUILD_DUP)
				continue;
			missing++;
			CHECK_FOR_INTERRUPTS();
			ep = HnswGreedyDescend(&bs->src, item, bs->entry, bs->entry_level, 0);
			HnswVisitedReset(&bs->visited);
			bs->cands.n = bs->results.n = 0;
			HnswVisitedAdd(&bs->visited, ep.id);
			HnswHeapPush(&bs->cands, &ep);
			HnswHeapPush(&bs->results, &ep);
			HnswSearchLayer(&bs->src, item, &bs->cands, &bs->results, st->ef_construction, 0,
							&bs->visited, NULL);
			/*
			 * The nearest reached node with room in its list, so that the
			 * new link pushes no other out; else the nearest one.
			 */
			for (int pass = 0; pass < 2 && best == HNSW_NO_NODE; pass++)
				for (int i = 0; i < bs->results.n; i++)
				{
					HnswCand   *c = &bs->results.items[i];

					if (c->id != u && reached[c->id] && bs->levels[c->id] != HNSW_BUILD_DUP &&
						c->dist < bestd &&
						(pass == 1 || bs->nlinks0[c->id] < HnswMaxLinks(st->m, 0)))
					{
						bestd = c->dist;
						best = c->id;
					}
				}
			if (best == HNSW_NO_NODE)
				continue;
			addBackLink(bs, best, u, 0, true);
			markReached(bs, reached, u, queue);
			linked++;
		}
		if (missing == 0)
			break;
		/* forced links may have pushed others out: walk again */
		memset(reached, 0, bs->n);
		markReached(bs, reached, bs->entry, queue);
	}
	if (linked > 0)
	{
		uint32		left = 0;

		for (uint32 u = 0; u < bs->n; u++)
			left += !reached[u];
		ereport(DEBUG1,
				(errmsg("hnsw build linked %u unreachable nodes; %u left", linked, left)));
	}
	pfree(reached);
	pfree(queue);
}

/* ---------------------------------------------------------------- write */

/*
 * The order nodes are written in, so that nodes near each other share
 * pages: a search scores a node's unvisited neighbours page by page
 * (diskScore), and pins and locks fewer pages when they sit together.
 * Seeds come in breadth-first order over layer 0 from the entry point
 * (then the nodes the walk does not reach); each seed opens a group that
 * takes its nearest unplaced neighbours, then theirs, until the page is
 * full.  A duplicate chain follows its head.  Returns order[new id] =
 * build id; newid is the inverse.
 */
static uint32 *
layoutOrder(HnswBuildState *bs, uint32 *newid)
{
	uint32		n = bs->n;
	uint32	   *order = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint32	   *seeds = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint8	   *seen = palloc_extended(Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	uint32	   *group = palloc_extended(sizeof(uint32) * Max(n, 1), MCXT_ALLOC_HUGE);
	uint32		nseeds = 0,
				head = 0,
				tail = 0;
	int			npp = bs->st.nodes_per_page;

	/* seeds: breadth-first over layer 0 from the entry point, then from each node missed */
	for (uint32 next = 0; nseeds < n;)
	{
		uint32		s;

		if (nseeds == 0 && bs->entry != HNSW_NO_NODE)
			s = bs->entry;
		else
		{
			while (seen[next])
				next++;
			s = next;
		}
		seen[s] = 1;
		seeds[nseeds++] = s;
		while (head < nseeds)
		{
			uint32		id = seeds[head++];
			uint32		count;
			uint32	   *links;

			if (bs->levels[id] == HNSW_BUILD_DUP)
				continue;
			links = linkList(bs, id, 0, &count);
			for (uint32 i = 0; i < count; i++)
				if (!seen[links[i]])
				{
					seen[links[i]] = 1;
					seeds[nseeds++] = links[i];
				}
		}
	}
	Assert(nseeds == n);

	for (uint32 id = 0; id < n; id++)
		newid[id] = HNSW_NO_NODE;

#define PLACE(x) \
	do { \
		for (uint32 d_ = (x); d_ != HNSW_NO_NODE && newid[d_] == HNSW_NO_NODE; d_ = bs->dup_next[d_]) \
		{ \
			newid[d_] = tail; \
			order[tail++] = d_; \
		} \
	} while (0)

	tail = 0;
	for (uint32 i = 0; i < n; i++)
	{
		uint32		ghead = 0,
					gtail = 0;

		if (newid[seeds[i]] != HNSW_NO_NODE)
			continue;
		PLACE(seeds[i]);
		group[gtail++] = seeds[i];
		while (ghead < gtail && tail % npp != 0)
		{
			uint32		id = group[ghead++];
			uint32		count;
			uint32	   *links;

			if (bs->levels[id] == HNSW_BUILD_DUP)
				continue;
			links = linkList(bs, id, 0, &count);
			for (uint32 k = 0; k < count && tail % npp != 0; k++)
				if (newid[links[k]] == HNSW_NO_NODE)
				{
					PLACE(links[k]);
					group[gtail++] = links[k];
				}
		}
	}
#undef PLACE
	Assert(tail == n);
	pfree(seeds);
	pfree(seen);
	pfree(group);
	return order;
}

/* Renumber links[0..n) through newid into out. */
static void
mapLinks(const uint32 *newid, const uint32 *links, int n, uint32 *out)
{
	for (int i = 0; i < n; i++)
		out[i] = newid[links[i]];
}

/*
 * Where each variable-length item goes: item pages from block first, in the
 * layout order (refs[] is indexed by the new id), each filled as far as PageAddItem would fill it.  Fills refs[]
 * and returns the number of item pages.
 */
static BlockNumber
layoutItems(HnswBuildState *bs, const uint32 *order, BlockNumber first, HnswItemRef *refs)
{
	BlockNumber npages = 0;
	Size		avail = 0;
	OffsetNumber off = InvalidOffsetNumber;

	for (uint32 nid = 0; nid < bs->n; nid++)
	{
		Size		len = bs->st.ops->item_len(VarItem(bs, order[nid]));
		Size		need = MAXALIGN(HnswItemTupleSize(len)) + sizeof(ItemIdData);

		if (npages == 0 || need > avail)
		{
			npages++;
			avail = HNSW_ITEM_PAGE_SPACE;
			off = InvalidOffsetNumber;
		}
		avail -= need;
		off = OffsetNumberNext(off);
		refs[nid].blk = first + npages - 1;
		refs[nid].off = off;
		refs[nid].len = len;
	}
	return npages;
}

/* Write the item pages layoutItems planned, after the pages so far. */
static void
writeItems(HnswBuildState *bs, const uint32 *order, const HnswItemRef *refs)
{
	Buffer		buf = InvalidBuffer;
	char	   *tup = palloc(HnswItemTupleSize(bs->st.item_max));

	for (uint32 id = 0; id < bs->n; id++)
	{
		Page		page;
		OffsetNumber off;
		const char *item = VarItem(bs, order[id]);

		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != refs[id].blk)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = VecIndexNewBuffer(bs->st.index, MAIN_FORKNUM);
			if (BufferGetBlockNumber(buf) != refs[id].blk)
				elog(ERROR, "hnsw item page is block %u, expected %u",
					 BufferGetBlockNumber(buf), refs[id].blk);
			HnswInitPage(BufferGetPage(buf), HNSW_PAGE_ITEM);
			CHECK_FOR_INTERRUPTS();
		}
		page = BufferGetPage(buf);
		*(uint32 *) tup = id;
		memcpy(tup + HNSW_ITEM_TUPLE_HDR, item, refs[id].len);
		off = PageAddItem(page, (Item) tup, HnswItemTupleSize(refs[id].len),
						  InvalidOffsetNumber, false, false);
		if (off != refs[id].off)
			elog(ERROR, "hnsw item of node %u went to offset %u, expected %u",
				 id, off, refs[id].off);
	}
	if (BufferIsValid(buf))
	{
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	pfree(tup);
}

/*
 * Write the in-memory graph: node pages from block 1 in id order (one
 * run), then the upper pages, then (out-of-line items) the item pages,
 * then the metapage; then WAL-log every page as a full image, the way
 * GiST and GIN builds do.  Node records point at upper records and items,
 * so both are laid out before the first node page is written.
 */
static void
writeGraph(HnswBuildState *bs)
{
	HnswState  *st = &bs->st;
	Relation	index = st->index;
	/* (rounded up without overflowing: n may be near HnswMaxNodes) */
	uint32		npages = bs->n / st->nodes_per_page + (bs->n % st->nodes_per_page != 0);
	BlockNumber *upper_blk = palloc_extended(sizeof(BlockNumber) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	OffsetNumber *upper_off = palloc_extended(sizeof(OffsetNumber) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	List	   *upper_pages = NIL;
	Page		upage = NULL;
	BlockNumber next_upper = 1 + npages;
	Buffer		buf;
	HnswMetaPage meta;
	ListCell   *lc;
	uint32	   *newid = palloc_extended(sizeof(uint32) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	uint32	   *order = layoutOrder(bs, newid);
	HnswItemRef *refs = NULL;
	BlockNumber nitem_pages = 0;

	/* lay out the upper records first: node headers point at them */
	for (uint32 nid = 0; nid < bs->n; nid++)
	{
		uint32		id = order[nid];
		int			level = bs->levels[id];
		Size		size;
		HnswUpperData *rec;

		upper_blk[nid] = InvalidBlockNumber;
		upper_off[nid] = InvalidOffsetNumber;
		if (level == 0 || level == HNSW_BUILD_DUP)
			continue;
		size = HnswUpperSize(st->m, level);
		rec = palloc0(size);
		rec->node_id = nid;
		rec->nlevels = level;
		for (int l = 1; l <= level; l++)
		{
			HnswUpperLevel *lv = HnswUpperGetLevel(rec, st->m, l);
			uint32	   *up = BuildUpper(bs, id, l);

			lv->count = up[0];
			mapLinks(newid, up + 1, up[0], lv->links);
		}
		if (upage == NULL || PageGetFreeSpace(upage) < MAXALIGN(size))
		{
			upage = palloc(BLCKSZ);
			HnswInitPage(upage, HNSW_PAGE_UPPER);
			upper_pages = lappend(upper_pages, upage);
			if (list_length(upper_pages) > 1)
				next_upper++;
		}
		upper_off[nid] = PageAddItem(upage, (Item) rec, size, InvalidOffsetNumber, false, false);
		if (upper_off[nid] == InvalidOffsetNumber)
			elog(ERROR, "could not add hnsw upper record of %zu bytes", size);
		upper_blk[nid] = next_upper;
		pfree(rec);
	}

	/* the item pages follow the upper pages */
	if (st->item_refs)
	{
		refs = palloc_extended(sizeof(HnswItemRef) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
		nitem_pages = layoutItems(bs, order, 1 + npages + list_length(upper_pages), refs);
	}

	for (uint32 p = 0; p < npages; p++)
	{
		Page		page;
		int			nslots = Min(st->nodes_per_page, (int) (bs->n - p * st->nodes_per_page));

		buf = VecIndexNewBuffer(index, MAIN_FORKNUM);
		Assert(BufferGetBlockNumber(buf) == 1 + p);
		page = BufferGetPage(buf);
		HnswInitPage(page, HNSW_PAGE_NODE);
		((PageHeader) page)->pd_lower = HNSW_NODE_START + st->node_size * st->nodes_per_page;
		for (int s = 0; s < nslots; s++)
		{
			uint32		nid = p * st->nodes_per_page + s;
			uint32		id = order[nid];
			HnswNode	node = HnswPageNode(page, st, s);

			node->heaptid = bs->tids[id];
			node->level = bs->levels[id] == HNSW_BUILD_DUP ? 0 : bs->levels[id];
			node->flags = bs->levels[id] == HNSW_BUILD_DUP ? HNSW_NODE_DUP : 0;
			node->dup_next = bs->dup_next[id] == HNSW_NO_NODE ? HNSW_NO_NODE :
				newid[bs->dup_next[id]];
			node->nlinks = bs->nlinks0[id];
			node->upper_blk = upper_blk[nid];
			node->upper_off = upper_off[nid];
			if (st->item_refs)
				memcpy(HnswNodeItem(node), &refs[nid], sizeof(HnswItemRef));
			else
				memcpy(HnswNodeItem(node), FixedItem(bs, id), st->item_size);
			mapLinks(newid, BuildLinks0(bs, id), bs->nlinks0[id],
					 HnswNodeLinks(node, st->item_size));
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	foreach(lc, upper_pages)
	{
		buf = VecIndexNewBuffer(index, MAIN_FORKNUM);
		memcpy(BufferGetPage(buf), lfirst(lc), BLCKSZ);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	if (st->item_refs)
		writeItems(bs, order, refs);

	st->entry_id = bs->entry == HNSW_NO_NODE ? HNSW_NO_NODE : newid[bs->entry];
	st->entry_level = bs->entry_level;
	st->node_count = bs->n;
	st->node_capacity = npages * st->nodes_per_page;
	st->nruns = npages > 0 ? 1 : 0;
	st->runs[0].first_id = 0;
	st->runs[0].start = 1;
	st->runs[0].npages = npages;

	buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	meta = HnswPageGetMeta(BufferGetPage(buf));
	HnswFillMeta(st, BufferGetPage(buf));
	meta->upper_blk = upper_pages != NIL ? next_upper : InvalidBlockNumber;
	if (st->item_refs)
		HnswMetaItems(meta)->item_blk = nitem_pages > 0 ?
			refs[bs->n - 1].blk : InvalidBlockNumber;
	HnswSetMetaLower(BufferGetPage(buf));
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);
}

/* ---------------------------------------------------------------- build */

/* A fresh metapage at block 0 of fork; returns it pinned and locked. */
static Buffer
initMetaPage(HnswState *st, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(st->index, fork, P_NEW, RBM_NORMAL, NULL);
	Page		page;
	HnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	Assert(BufferGetBlockNumber(buf) == HNSW_METAPAGE_BLKNO);
	page = BufferGetPage(buf);
	HnswInitPage(page, HNSW_PAGE_META);
	meta = HnswPageGetMeta(page);
	HnswFillMeta(st, page);
	meta->upper_blk = InvalidBlockNumber;
	if (st->item_refs)
		HnswMetaItems(meta)->item_blk = InvalidBlockNumber;
	HnswSetMetaLower(page);
	MarkBufferDirty(buf);
	return buf;
}

static void
spill(HnswBuildState *bs)
{
	/* full because the index may not have more nodes, not for memory */
	if (bs->n >= HnswMaxNodes(&bs->st))
		HnswTooManyNodes(&bs->st);
	ereport(NOTICE,
			(errmsg("hnsw graph no longer fits into maintenance_work_mem after %.0f tuples",
					bs->indtuples),
			 errdetail("Building will take significantly more time."),
			 errhint("Increase maintenance_work_mem to speed up builds.")));
	writeGraph(bs);
	bs->spilled = true;
}

static void
buildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	HnswState  *st = &bs->st;
	MemoryContext old;

	bs->reltuples++;
	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(bs->tmpCtx);
	if (VecIndexValueToItem(st->ops, st->metric, st->dim, values[0], bs->itembuf))
	{
		if (bs->shared && !bs->shared->ondisk)
		{
			/* a full shared graph: stop, the leader redoes the build */
			if (pg_atomic_read_u32(&bs->shared->overflow) == 0 &&
				!buildInsert(bs, bs->itembuf, tid))
				pg_atomic_write_u32(&bs->shared->overflow, 1);
		}
		else
		{
			if (!bs->spilled && !buildInsert(bs, bs->itembuf, tid))
				spill(bs);
			if (bs->spilled)
				HnswInsertItem(st, bs->itembuf, tid,
							   HnswRandomLevel(st->m, pg_prng_double(&bs->prng)));
		}
		bs->indtuples++;
		if (((uint64) bs->indtuples & 63) == 0 && !IsParallelWorker())
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

/* Search scratch and the in-memory source, for one participant. */
static void
initParticipant(HnswBuildState *bs, uint32 nodes)
{
	HnswState  *st = &bs->st;

	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build temporary context",
									   ALLOCSET_DEFAULT_SIZES);
	bs->itembuf = palloc0(st->item_max);
	HnswVisitedInitDense(&bs->visited, nodes);
	HnswHeapInit(&bs->cands, st->ef_construction * 4, false);
	HnswHeapInit(&bs->results, st->ef_construction + 1, true);
	bs->src.links = memLinks;
	bs->src.score = st->item_refs ? memScoreVar : memScore;
	bs->src.prefetch = memPrefetch;
	bs->src.state = (HnswState *) bs;
}

/* ---------------------------------------------------------------- parallel */

/* Point bs at the shared graph of a parallel build. */
static void
attachShared(HnswBuildState *bs, Relation heap, Relation index, shm_toc *toc)
{
	HnswShared *sh = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);

	if (bs->st.index == NULL)
		HnswInitState(&bs->st, index);
	bs->heap = heap;
	bs->shared = sh;
	bs->locks = sh->stripes;
	LWLockRegisterTranche(sh->tranche_id, "hnsw build");
	bs->cap = bs->limit = sh->cap;
	bs->items = shm_toc_lookup(toc, HNSW_KEY_ITEMS, false);
	bs->links0 = shm_toc_lookup(toc, HNSW_KEY_LINKS0, false);
	bs->nlinks0 = shm_toc_lookup(toc, HNSW_KEY_NLINKS0, false);
	bs->levels = shm_toc_lookup(toc, HNSW_KEY_LEVELS, false);
	bs->tids = shm_toc_lookup(toc, HNSW_KEY_TIDS, false);
	bs->upper = shm_toc_lookup(toc, HNSW_KEY_UPPER, false);
	bs->dup_next = shm_toc_lookup(toc, HNSW_KEY_DUPNEXT, false);
	bs->arena = shm_toc_lookup(toc, HNSW_KEY_ARENA, false);
	/* participants draw different levels; parallel builds are not repeatable */
	pg_prng_seed(&bs->prng, 0x484E5357 ^ (uint64) (ParallelWorkerNumber + 2));
	initParticipant(bs, sh->cap);
}

/*
 * Set bs up for a parallel build without a shared graph: every row goes
 * through the ordinary on-disk insert, as after a spill.
 */
static void
attachOnDisk(HnswBuildState *bs, Relation heap, Relation index, shm_toc *toc)
{
	if (bs->st.index == NULL)
		HnswInitState(&bs->st, index);
	bs->heap = heap;
	bs->shared = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);
	bs->spilled = true;
	pg_prng_seed(&bs->prng, 0x484E5357 ^ (uint64) (ParallelWorkerNumber + 2));
	/* the leader has these from writing the empty graph */
	if (bs->tmpCtx == NULL)
		bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build temporary context",
										   ALLOCSET_DEFAULT_SIZES);
	if (bs->itembuf == NULL)
		bs->itembuf = palloc0(bs->st.item_max);
}

/* Scan this participant's share of the heap into the graph. */
static void
participate(HnswBuildState *bs, IndexInfo *indexInfo, shm_toc *toc, bool progress)
{
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, HNSW_KEY_SCAN, false);
	TableScanDesc scan = table_beginscan_parallel(bs->heap, pscan);
	double		reltuples;

	reltuples = table_index_build_scan(bs->heap, bs->st.index, indexInfo, true, progress,
									   buildCallback, bs, scan);
	SpinLockAcquire(&bs->shared->mutex);
	bs->shared->reltuples += reltuples;
	bs->shared->indtuples += bs->indtuples;
	SpinLockRelease(&bs->shared->mutex);
}

/*
 * Forget the shared graph of a parallel build that outgrew its segment, so
 * that the leader can start again serially.  The segment is unmapped by
 * now: every array pointer into it goes, so that the serial build
 * allocates its own instead of growing (repalloc) memory that is gone, and
 * the node limit returns to what maintenance_work_mem holds, not the
 * estimate that proved wrong.  Nothing of the shared graph is kept; the
 * serial build scans the heap again from the start.
 */
static void
detachShared(HnswBuildState *bs, uint32 limit)
{
	bs->shared = NULL;
	bs->locks = NULL;
	bs->items = NULL;
	bs->links0 = NULL;
	bs->nlinks0 = NULL;
	bs->levels = NULL;
	bs->tids = NULL;
	bs->upper = NULL;
	bs->dup_next = NULL;
	bs->arena = NULL;
	bs->n = 0;
	bs->cap = 0;
	bs->limit = limit;
	bs->entry = HNSW_NO_NODE;
	bs->entry_level = -1;
	bs->indtuples = 0;
	bs->reltuples = 0;
	MemoryContextDelete(bs->tmpCtx);
	bs->tmpCtx = NULL;
	/* sized for the shared graph; the serial build makes its own */
	pfree(bs->visited.stamps);
	bs->visited.stamps = NULL;
}

/* Entry point of a parallel build worker. */
void
HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	HnswShared *sh = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);
	LOCKMODE	heaplock = sh->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	Relation	heap = table_open(sh->heaprelid, heaplock);
	Relation	index = index_open(sh->indexrelid, RowExclusiveLock);
	IndexInfo  *indexInfo = BuildIndexInfo(index);
	HnswBuildState *bs = palloc0(sizeof(HnswBuildState));

	indexInfo->ii_Concurrent = sh->isconcurrent;
	if (sh->ondisk)
		attachOnDisk(bs, heap, index, toc);
	else
		attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, false);
	index_close(index, RowExclusiveLock);
	table_close(heap, heaplock);
}

/* A chunk of a parallel build's DSM segment, under a toc key. */
typedef struct ShmChunk
{
	uint64		key;
	Size		size;
} ShmChunk;

/* Leave what beginParallel entered. */
static void
endParallel(ParallelContext *pcxt, Snapshot snapshot)
{
	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

/*
 * Enter parallel mode and make a parallel build's DSM segment: the shared
 * state (identity filled in, the rest zero), the parallel heap scan, and
 * nchunks further chunks, allocated under their keys.  NULL, with parallel
 * mode left again, when no segment could be had.
 */
static ParallelContext *
beginParallel(Relation heap, Relation index, IndexInfo *indexInfo, int nworkers,
			  const ShmChunk *chunks, int nchunks, Snapshot *snapshot, HnswShared **shp)
{
	ParallelContext *pcxt;
	Size		scansize;
	HnswShared *sh;
	shm_toc    *toc;
	ParallelTableScanDesc pscan;

	EnterParallelMode();
	pcxt = CreateParallelContext("vector", "HnswParallelBuildMain", nworkers);
	*snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	scansize = table_parallelscan_estimate(heap, *snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(HnswShared));
	shm_toc_estimate_chunk(&pcxt->estimator, scansize);
	for (int i = 0; i < nchunks; i++)
		shm_toc_estimate_chunk(&pcxt->estimator, chunks[i].size);
	shm_toc_estimate_keys(&pcxt->estimator, 2 + nchunks);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		endParallel(pcxt, *snapshot);
		return NULL;
	}

	toc = pcxt->toc;
	sh = shm_toc_allocate(toc, sizeof(HnswShared));
	memset(sh, 0, sizeof(HnswShared));
	sh->heaprelid = RelationGetRelid(heap);
	sh->indexrelid = RelationGetRelid(index);
	sh->isconcurrent = indexInfo->ii_Concurrent;
	SpinLockInit(&sh->mutex);
	shm_toc_insert(toc, HNSW_KEY_SHARED, sh);
	pscan = shm_toc_allocate(toc, scansize);
	table_parallelscan_initialize(heap, pscan, *snapshot);
	shm_toc_insert(toc, HNSW_KEY_SCAN, pscan);
	for (int i = 0; i < nchunks; i++)
		shm_toc_insert(toc, chunks[i].key, shm_toc_allocate(toc, chunks[i].size));
	*shp = sh;
	return pcxt;
}

/*
 * A parallel build whose graph does not fit in memory: the leader writes
 * an empty graph (and says it no longer fits, after 0 tuples), then it and
 * nworkers workers insert every row on disk, as concurrent inserts do.
 * Returns false, having done nothing, when no shared memory could be had.
 */
static bool
buildParallelOnDisk(HnswBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo,
					int nworkers)
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	HnswShared *sh;
	shm_toc    *toc;

	pcxt = beginParallel(heap, index, indexInfo, nworkers, NULL, 0, &snapshot, &sh);
	if (pcxt == NULL)
		return false;
	toc = pcxt->toc;
	sh->ondisk = true;

	/* the empty graph the participants insert into, as a serial spill writes it */
	growGraph(bs);
	bs->arena_cap = 1024;
	bs->arena_used = 1;
	bs->arena = palloc_extended(sizeof(uint32) * bs->arena_cap, MCXT_ALLOC_HUGE);
	initParticipant(bs, bs->cap);
	spill(bs);

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	attachOnDisk(bs, heap, index, toc);
	participate(bs, indexInfo, toc, true);
	WaitForParallelWorkersToFinish(pcxt);
	bs->reltuples = sh->reltuples;
	bs->indtuples = sh->indtuples;
	bs->shared = NULL;
	endParallel(pcxt, snapshot);
	return true;
}

/*
 * Build the graph with nworkers workers and the leader, all inserting into
 * one graph in shared memory, then write it.  Returns false, having done
 * nothing lasting, when the graph would not fit in maintenance_work_mem or
 * did not after all (then the caller builds serially, spilling as needed).
 */
static bool
buildParallel(HnswBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo,
			  int nworkers)
{
	HnswState  *st = &bs->st;
	double		est = heap->rd_rel->reltuples;
	double		area;			/* nodes the shared graph may hold */
	uint32		cap;
	uint64		arena_words;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	HnswShared *sh;
	shm_toc    *toc;
	bool		ok;
	uint32		limit;
	ShmChunk	chunks[8];

	/* never analysed: a generous guess from the table's size */
	if (est < 0)
		est = (double) RelationGetNumberOfBlocks(heap) * (BLCKSZ / (st->item_size + 32.0));
	area = Min(bs->limit, (double) (bs->budget - Min(bs->budget, HNSW_PARALLEL_RESERVE)) / bs->node_cost);
	if (est * 1.1 + 1000 > area)
	{
		/*
		 * The shared graph cannot hold it.  When it cannot hold even half
		 * (a small maintenance_work_mem, or a table far beyond it), build in
		 * parallel on disk from the first row, as pgvector does once its
		 * shared graph fills.  Otherwise build serially, in memory as far
		 * as it goes and then on disk: faster when most of the graph fits
		 * (20,000 vector(32) rows in 4 MB, 73% fitting a serial build: 9.2 s
		 * serially against 22.6 s in parallel on disk, 2 workers, 2 cores).
		 */
		if (area < (est * 1.1 + 1000) / 2)
			return buildParallelOnDisk(bs, heap, index, indexInfo, nworkers);
		return false;
	}
	cap = (uint32) (est * 1.1 + 1000);
	/* a node has 1/(m-1) upper levels on average; room for three times that */
	arena_words = 1 + (uint64) cap * (st->m + 1) * 3 / (st->m - 1) + (uint64) 64 * (st->m + 1);

	chunks[0].key = HNSW_KEY_ITEMS;
	chunks[0].size = (Size) cap * st->item_size;
	chunks[1].key = HNSW_KEY_LINKS0;
	chunks[1].size = (Size) cap * 2 * st->m * sizeof(uint32);
	chunks[2].key = HNSW_KEY_NLINKS0;
	chunks[2].size = (Size) cap * sizeof(uint16);
	chunks[3].key = HNSW_KEY_LEVELS;
	chunks[3].size = (Size) cap * sizeof(uint8);
	chunks[4].key = HNSW_KEY_TIDS;
	chunks[4].size = (Size) cap * sizeof(ItemPointerData);
	chunks[5].key = HNSW_KEY_UPPER;
	chunks[5].size = (Size) cap * sizeof(uint64);
	chunks[6].key = HNSW_KEY_DUPNEXT;
	chunks[6].size = (Size) cap * sizeof(uint32);
	chunks[7].key = HNSW_KEY_ARENA;
	chunks[7].size = (Size) arena_words * sizeof(uint32);

	pcxt = beginParallel(heap, index, indexInfo, nworkers, chunks, lengthof(chunks),
						 &snapshot, &sh);
	if (pcxt == NULL)
		return false;			/* no dynamic shared memory: build serially */
	toc = pcxt->toc;
	sh->cap = cap;
	sh->arena_words = arena_words;
	sh->tranche_id = LWLockNewTrancheId();
	pg_atomic_init_u32(&sh->n, 0);
	pg_atomic_init_u64(&sh->arena_used, 1);	/* offset 0 means "none" */
	pg_atomic_init_u32(&sh->overflow, 0);
	LWLockInitialize(&sh->entry_lock, sh->tranche_id);
	sh->entry = HNSW_NO_NODE;
	sh->entry_level = -1;
	for (int i = 0; i < HNSW_BUILD_STRIPES; i++)
		LWLockInitialize(&sh->stripes[i], sh->tranche_id);

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	/* attachShared makes the segment's size the limit; a fallback needs ours */
	limit = bs->limit;
	attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, true);
	WaitForParallelWorkersToFinish(pcxt);

	ok = pg_atomic_read_u32(&sh->overflow) == 0;
	if (ok)
	{
		bs->n = Min(pg_atomic_read_u32(&sh->n), cap);
		bs->entry = sh->entry;
		bs->entry_level = sh->entry_level;
		bs->reltuples = sh->reltuples;
		bs->indtuples = sh->indtuples;
		/* the graph is complete: write it while the segment is mapped */
		bs->locks = NULL;
		repairReachability(bs);
		writeGraph(bs);
	}

	endParallel(pcxt, snapshot);
	if (!ok)
	{
		ereport(DEBUG1,
				(errmsg("hnsw parallel build outgrew its estimate of %u nodes; building serially", cap)));
		detachShared(bs, limit);
	}
	return ok;
}

/* ---------------------------------------------------------------- build */

IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	HnswBuildState *bs = palloc0(sizeof(HnswBuildState));
	HnswState  *st = &bs->st;
	IndexBuildResult *result;
	MemoryContext graphCtx;
	MemoryContext old;
	Size		budget = (Size) maintenance_work_mem * 1024;
	int			nworkers;

	HnswInitState(st, index);
	st->dim = VecIndexCheckDims(index, st->ops, "hnsw", st->ops->hnsw_max_dim);
	if (st->ef_construction < 2 * st->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	if (st->nodes_per_page < 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("hnsw node of %zu bytes does not fit in a page", st->node_size),
				 errdetail("A node holds a %d-dimensional %s and %d neighbour links.",
						   st->dim, st->ops->name, 2 * st->m),
				 errhint("Reduce m or the number of dimensions.")));
	/* an out-of-line item must fit on one item page */
	if (st->item_refs &&
		MAXALIGN(HnswItemTupleSize(st->item_max)) + sizeof(ItemIdData) > HNSW_ITEM_PAGE_SPACE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("hnsw item of %zu bytes does not fit in a page", st->item_max)));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE);
	UnlockReleaseBuffer(initMetaPage(st, MAIN_FORKNUM));

	bs->heap = heap;
	bs->entry = HNSW_NO_NODE;
	bs->entry_level = -1;
	/* a node costs nodeBytes plus about 1/(m-1) upper levels */
	bs->node_cost = nodeBytes(st) + (sizeof(uint32) * (st->m + 1)) / (st->m - 1) + 1;
	bs->budget = budget;
	bs->limit = (uint32) Min((double) HnswMaxNodes(st), budget / bs->node_cost);
	bs->limit = Max(bs->limit, 1);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));

	/*
	 * PostgreSQL 15 plans parallel workers for btree builds only, so ask the
	 * planner's rule (max_parallel_maintenance_workers, table size,
	 * parallel_workers) ourselves.  Variable-length items are built
	 * serially: the shared graph has no arena for them.
	 */
	nworkers = IsNormalProcessingMode() && RelationNeedsWAL(index) && !st->item_refs ?
		plan_create_index_workers(RelationGetRelid(heap), RelationGetRelid(index)) : 0;
	graphCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build graph",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(graphCtx);
	if (nworkers == 0 || !buildParallel(bs, heap, index, indexInfo, nworkers))
	{
		pg_prng_seed(&bs->prng, 0x484E5357);
		growGraph(bs);
		bs->arena_cap = 1024;
		bs->arena_used = 1;		/* offset 0 means "none" */
		bs->arena = palloc_extended(sizeof(uint32) * bs->arena_cap, MCXT_ALLOC_HUGE);
		if (st->item_refs)
		{
			bs->vitems_cap = 65536;
			bs->vitems = palloc_extended(bs->vitems_cap, MCXT_ALLOC_HUGE);
		}
		initParticipant(bs, bs->cap);
		bs->reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											   buildCallback, bs, NULL);
		if (!bs->spilled)
		{
			repairReachability(bs);
			writeGraph(bs);
		}
	}
	MemoryContextSwitchTo(old);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);

	MemoryContextDelete(graphCtx);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs->reltuples;
	result->index_tuples = bs->indtuples;
	return result;
}

/* The init fork of an unlogged index: an empty metapage. */
void
hnswbuildempty(Relation index)
{
	HnswState	st;
	Buffer		buf;

	HnswInitState(&st, index);
	buf = initMetaPage(&st, INIT_FORKNUM);
	log_newpage_buffer(buf, true);
	UnlockReleaseBuffer(buf);
}
