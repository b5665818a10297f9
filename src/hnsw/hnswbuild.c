/*
 * hnswbuild.c
 *	  CREATE INDEX: the graph is built in memory (bounded by
 *	  maintenance_work_mem), then written in one sequential pass and
 *	  WAL-logged as whole pages.  When the graph outgrows memory, what was
 *	  built is written out and the remaining rows go through the ordinary
 *	  on-disk insert path.
 */
#include "compat.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

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

	/* the in-memory graph; node i's item at items + i * item_size */
	uint32		n;
	uint32		cap;
	uint32		limit;			/* most nodes maintenance_work_mem holds */
	char	   *items;
	uint32	   *links0;			/* 2m per node */
	uint16	   *nlinks0;
	uint8	   *levels;
	ItemPointerData *tids;
	uint32	  **upper;			/* per node: levels x (count, m links) */
	uint32	   *dup_next;		/* duplicate chains (README.md, "Duplicates") */
	uint32		entry;
	int			entry_level;

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
		sizeof(ItemPointerData) + sizeof(uint32 *) + sizeof(uint32) * 2 /* chain, visited */ ;
}

static void *
growArray(void *p, Size elem, uint32 oldcap, uint32 newcap)
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

	bs->items = growArray(bs->items, st->item_size, bs->cap, newcap);
	bs->links0 = growArray(bs->links0, sizeof(uint32) * 2 * st->m, bs->cap, newcap);
	bs->nlinks0 = growArray(bs->nlinks0, sizeof(uint16), bs->cap, newcap);
	bs->levels = growArray(bs->levels, sizeof(uint8), bs->cap, newcap);
	bs->tids = growArray(bs->tids, sizeof(ItemPointerData), bs->cap, newcap);
	bs->upper = growArray(bs->upper, sizeof(uint32 *), bs->cap, newcap);
	bs->dup_next = growArray(bs->dup_next, sizeof(uint32), bs->cap, newcap);
	bs->cap = newcap;
}

/* levels[] value of a chained duplicate: written as level 0, flag DUP */
#define HNSW_BUILD_DUP		0xFF

#define BuildItem(bs, id)	((bs)->items + (Size) (id) * (bs)->st.item_size)
#define BuildLinks0(bs, id) ((bs)->links0 + (Size) (id) * 2 * (bs)->st.m)
#define BuildUpper(bs, id, level) ((bs)->upper[id] + ((level) - 1) * ((bs)->st.m + 1))

/* ---------------------------------------------------------------- source */

static int
memLinks(HnswSource *src, uint32 id, int level, uint32 *out)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;
	uint32	   *up;

	if (level == 0)
	{
		memcpy(out, BuildLinks0(bs, id), sizeof(uint32) * bs->nlinks0[id]);
		return bs->nlinks0[id];
	}
	if (bs->levels[id] < level)
		return 0;
	up = BuildUpper(bs, id, level);
	memcpy(out, up + 1, sizeof(uint32) * up[0]);
	return up[0];
}

static void
memScore(HnswSource *src, const void *query, const uint32 *ids, int n, HnswCand *cands)
{
	HnswBuildState *bs = (HnswBuildState *) src->state;

	/* the graph is far larger than the caches: overlap the batch's misses */
	for (int i = 0; i < n; i++)
	{
		const char *item = BuildItem(bs, ids[i]);

		for (Size off = 0; off < bs->st.item_size; off += 64)
			__builtin_prefetch(item + off);
	}
	for (int i = 0; i < n; i++)
	{
		cands[i].id = ids[i];
		cands[i].dist = bs->st.dist(query, BuildItem(bs, ids[i]), bs->st.dim);
		cands[i].dup_next = bs->dup_next[ids[i]];
		cands[i].deleted = 0;
		cands[i].self_dead = 0;
	}
}

/* ---------------------------------------------------------------- insert */

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
 * plus the newcomer with the selection heuristic, without filling it back
 * up: the room it leaves makes the next back-links cheap appends, which
 * halves the build time (sift-128: 10.4 s against 23 s) for a little recall
 * at equal ef_search (0.966 against 0.978 at 40).  force keeps the newcomer
 * in any case (see HnswKeepLink).  Returns whether the link was kept.
 */
static bool
addBackLink(HnswBuildState *bs, uint32 base, uint32 id, int level, bool force)
{
	HnswState  *st = &bs->st;
	int			maxlinks = HnswMaxLinks(st->m, level);
	uint32		count;
	uint32	   *links = linkList(bs, base, level, &count);
	HnswCand	cands[2 * HNSW_MAX_M + 1];
	const char *items[2 * HNSW_MAX_M + 1];
	uint32		kept[2 * HNSW_MAX_M];
	int			nkept;
	const char *baseitem = BuildItem(bs, base);

	if (count < (uint32) maxlinks)
	{
		links[count] = id;
		setLinks(bs, base, level, links, count + 1);
		return true;
	}

	for (uint32 i = 0; i <= count; i++)
	{
		cands[i].id = i < count ? links[i] : id;
		cands[i].dist = st->dist(baseitem, BuildItem(bs, cands[i].id), st->dim);
	}
	HnswSortCands(cands, count + 1, base);
	for (uint32 i = 0; i <= count; i++)
		items[i] = BuildItem(bs, cands[i].id);
	nkept = HnswSelectNeighbours(st, cands, count + 1, items, maxlinks, false, kept);
	nkept = HnswKeepLink(kept, nkept, maxlinks, id, force);
	setLinks(bs, base, level, kept, nkept);
	return nkept > 0 && HnswHasLink(kept, nkept, id);
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

static void
buildInsert(HnswBuildState *bs, const char *item, ItemPointer tid)
{
	HnswState  *st = &bs->st;
	uint32		id = bs->n;
	int			level = HnswRandomLevel(st->m, pg_prng_double(&bs->prng));
	HnswCand	ep;
	HnswCand   *w;
	const char **witems;

	if (bs->n == bs->cap)
		growGraph(bs);
	bs->n++;
	memcpy(BuildItem(bs, id), item, st->item_size);
	bs->tids[id] = *tid;
	bs->levels[id] = level;
	bs->nlinks0[id] = 0;
	bs->dup_next[id] = HNSW_NO_NODE;
	bs->upper[id] = level > 0 ?
		MemoryContextAllocZero(GetMemoryChunkContext(bs->items),
							   sizeof(uint32) * level * (st->m + 1)) : NULL;

	if (bs->entry == HNSW_NO_NODE)
	{
		bs->entry = id;
		bs->entry_level = level;
		return;
	}

	memScore(&bs->src, item, &bs->entry, 1, &ep);
	ep = HnswGreedyDescend(&bs->src, item, ep, bs->entry_level, level);

	w = palloc_array(HnswCand, st->ef_construction + 1);
	witems = palloc_array(const char *, st->ef_construction + 1);
	bs->cands.n = 0;
	bs->results.n = 0;
	HnswHeapPush(&bs->cands, &ep);
	HnswHeapPush(&bs->results, &ep);
	for (int lc = Min(level, bs->entry_level); lc >= 0; lc--)
	{
		int			nw;
		uint32		sel[2 * HNSW_MAX_M];
		int			nsel;

		HnswVisitedReset(&bs->visited);
		for (int i = 0; i < bs->cands.n; i++)
			HnswVisitedAdd(&bs->visited, bs->cands.items[i].id);
		HnswSearchLayer(&bs->src, item, &bs->cands, &bs->results,
						st->ef_construction, lc, &bs->visited, NULL);

		nw = bs->results.n;
		memcpy(w, bs->results.items, sizeof(HnswCand) * nw);
		HnswSortCands(w, nw, id);
		for (int i = 0; i < nw; i++)
			witems[i] = BuildItem(bs, w[i].id);
		/* an exact duplicate joins a chain, as in HnswInsertItem */
		if (level == 0 && nw > 0 && w[0].dist == 0 &&
			memcmp(witems[0], item, st->item_size) == 0)
		{
			bs->dup_next[id] = bs->dup_next[w[0].id];
			bs->dup_next[w[0].id] = id;
			bs->levels[id] = HNSW_BUILD_DUP;
			break;
		}
		nsel = HnswSelectNeighbours(st, w, nw, witems, HnswMaxLinks(st->m, lc), true, sel);
		setLinks(bs, id, lc, sel, nsel);
		if (!addBackLinks(bs, sel, nsel, id, lc))
			addBackLink(bs, sel[0], id, lc, true);

		/* the whole result set seeds the next level down */
		bs->cands.n = 0;
		for (int i = 0; i < nw; i++)
			HnswHeapPush(&bs->cands, &w[i]);
	}
	pfree(w);
	pfree(witems);

	if (level > bs->entry_level)
	{
		bs->entry = id;
		bs->entry_level = level;
	}
}

/* ---------------------------------------------------------------- write */

/*
 * Write the in-memory graph: node pages from block 1 in id order (one
 * run), then the upper pages, then the metapage; then WAL-log every page
 * as a full image, the way GiST and GIN builds do.
 */
static void
writeGraph(HnswBuildState *bs)
{
	HnswState  *st = &bs->st;
	Relation	index = st->index;
	uint32		npages = (bs->n + st->nodes_per_page - 1) / st->nodes_per_page;
	BlockNumber *upper_blk = palloc_extended(sizeof(BlockNumber) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	OffsetNumber *upper_off = palloc_extended(sizeof(OffsetNumber) * Max(bs->n, 1), MCXT_ALLOC_HUGE);
	List	   *upper_pages = NIL;
	Page		upage = NULL;
	BlockNumber next_upper = 1 + npages;
	Buffer		buf;
	HnswMetaPage meta;
	ListCell   *lc;

	/* lay out the upper records first: node headers point at them */
	for (uint32 id = 0; id < bs->n; id++)
	{
		int			level = bs->levels[id];
		Size		size;
		HnswUpperData *rec;

		upper_blk[id] = InvalidBlockNumber;
		upper_off[id] = InvalidOffsetNumber;
		if (level == 0 || level == HNSW_BUILD_DUP)
			continue;
		size = HnswUpperSize(st->m, level);
		rec = palloc0(size);
		rec->node_id = id;
		rec->nlevels = level;
		for (int l = 1; l <= level; l++)
		{
			HnswUpperLevel *lv = HnswUpperGetLevel(rec, st->m, l);
			uint32	   *up = BuildUpper(bs, id, l);

			lv->count = up[0];
			memcpy(lv->links, up + 1, sizeof(uint32) * up[0]);
		}
		if (upage == NULL || PageGetFreeSpace(upage) < MAXALIGN(size))
		{
			upage = palloc(BLCKSZ);
			HnswInitPage(upage, HNSW_PAGE_UPPER);
			upper_pages = lappend(upper_pages, upage);
			if (list_length(upper_pages) > 1)
				next_upper++;
		}
		upper_off[id] = PageAddItem(upage, (Item) rec, size, InvalidOffsetNumber, false, false);
		if (upper_off[id] == InvalidOffsetNumber)
			elog(ERROR, "could not add hnsw upper record of %zu bytes", size);
		upper_blk[id] = next_upper;
		pfree(rec);
	}

	for (uint32 p = 0; p < npages; p++)
	{
		Page		page;
		int			nslots = Min(st->nodes_per_page, (int) (bs->n - p * st->nodes_per_page));

		buf = HnswNewBuffer(index);
		Assert(BufferGetBlockNumber(buf) == 1 + p);
		page = BufferGetPage(buf);
		HnswInitPage(page, HNSW_PAGE_NODE);
		((PageHeader) page)->pd_lower = HNSW_NODE_START + st->node_size * st->nodes_per_page;
		for (int s = 0; s < nslots; s++)
		{
			uint32		id = p * st->nodes_per_page + s;
			HnswNode	node = HnswPageNode(page, st, s);

			node->heaptid = bs->tids[id];
			node->level = bs->levels[id] == HNSW_BUILD_DUP ? 0 : bs->levels[id];
			node->flags = bs->levels[id] == HNSW_BUILD_DUP ? HNSW_NODE_DUP : 0;
			node->dup_next = bs->dup_next[id];
			node->nlinks = bs->nlinks0[id];
			node->upper_blk = upper_blk[id];
			node->upper_off = upper_off[id];
			memcpy(HnswNodeItem(node), BuildItem(bs, id), st->item_size);
			memcpy(HnswNodeLinks(node, st->item_size), BuildLinks0(bs, id),
				   sizeof(uint32) * bs->nlinks0[id]);
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	foreach(lc, upper_pages)
	{
		buf = HnswNewBuffer(index);
		memcpy(BufferGetPage(buf), lfirst(lc), BLCKSZ);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}

	st->entry_id = bs->entry;
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
	HnswFillMeta(st, meta);
	meta->upper_blk = upper_pages != NIL ? next_upper : InvalidBlockNumber;
	((PageHeader) BufferGetPage(buf))->pd_lower =
		((char *) &meta->runs[meta->nruns]) - (char *) BufferGetPage(buf);
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
	HnswFillMeta(st, meta);
	meta->upper_blk = InvalidBlockNumber;
	((PageHeader) page)->pd_lower = ((char *) &meta->runs[meta->nruns]) - (char *) page;
	MarkBufferDirty(buf);
	return buf;
}

static void
spill(HnswBuildState *bs)
{
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
	Datum		value;

	bs->reltuples++;
	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(bs->tmpCtx);
	value = PointerGetDatum(PG_DETOAST_DATUM(values[0]));
	if (st->ops->datum_dim(value) != st->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", st->dim, st->ops->datum_dim(value))));
	if (st->ops->to_item(value, st->metric, bs->itembuf))
	{
		if (!bs->spilled && bs->n >= bs->limit)
			spill(bs);
		if (bs->spilled)
			HnswInsertItem(st, bs->itembuf, tid,
						   HnswRandomLevel(st->m, pg_prng_double(&bs->prng)));
		else
			buildInsert(bs, bs->itembuf, tid);
		bs->indtuples++;
		if (((uint64) bs->indtuples & 63) == 0)
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	HnswBuildState *bs = palloc0(sizeof(HnswBuildState));
	HnswState  *st = &bs->st;
	IndexBuildResult *result;
	MemoryContext graphCtx;
	MemoryContext old;
	Size		budget = (Size) maintenance_work_mem * 1024;

	HnswInitState(st, index);
	HnswCheckIndexable(index, st->ops, &st->dim);
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

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE);
	UnlockReleaseBuffer(initMetaPage(st, MAIN_FORKNUM));

	bs->heap = heap;
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build temporary context",
									   ALLOCSET_DEFAULT_SIZES);
	graphCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build graph",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(graphCtx);
	bs->itembuf = palloc0(st->item_size);
	pg_prng_seed(&bs->prng, 0x484E5357);
	bs->entry = HNSW_NO_NODE;
	bs->entry_level = -1;
	/* a node costs nodeBytes plus about 1/(m-1) upper levels */
	bs->limit = (uint32) Min((double) PG_UINT32_MAX - 1,
							 budget / (nodeBytes(st) + (sizeof(uint32) * (st->m + 1)) / (st->m - 1) + 1));
	bs->limit = Max(bs->limit, 1);
	growGraph(bs);
	HnswVisitedInitDense(&bs->visited, bs->cap);
	HnswHeapInit(&bs->cands, st->ef_construction * 4, false);
	HnswHeapInit(&bs->results, st->ef_construction + 1, true);
	bs->src.links = memLinks;
	bs->src.score = memScore;
	bs->src.state = (HnswState *) bs;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));
	bs->reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
										   buildCallback, bs, NULL);
	MemoryContextSwitchTo(old);

	if (!bs->spilled)
		writeGraph(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);

	MemoryContextDelete(graphCtx);
	MemoryContextDelete(bs->tmpCtx);

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
