/*
 * hnswvaccache.c
 *	  VACUUM's copy of the graph in memory, for the list repairs of pass 2.
 *
 * Pass 2 searches the graph once per repaired list, and after 10 % of the
 * rows are updated that is nearly every list.  Through the buffer manager,
 * about a quarter of that time went to pins, buffer header locks and the
 * buffer table, and another quarter to cache misses on items read page by
 * page (perf, bench/soak.py).  When the nodes VACUUM began with fit in
 * maintenance_work_mem (autovacuum_work_mem in an autovacuum worker), this
 * file copies their headers, items and lists into arrays once, in block
 * order through VACUUM's buffer ring, and serves pass 2's searches and
 * scoring from them as an HnswSource.
 *
 * Why a copy that can go stale is safe here: the copy only proposes
 * candidates.  Every list pass 2 writes is written by a compare-and-swap
 * against the list on the page (replaceLists), so a list that a concurrent
 * insert changed since it was copied makes the write fail; the caller then
 * marks the copy stale (HnswSource.stale), which re-reads that list, and
 * tries again.  Lists that pass 2 writes itself are copied in as written
 * (HnswSource.wrote).  Items never change while a node lives, and only
 * this VACUUM frees nodes, in pass 5, after the copy is gone; a slot that
 * was already free when it was copied may be taken by an insert at any
 * time, so it is not served from the copy, nor is a node added after
 * VACUUM began: both go to the disk source.  The copy serves only pass 2:
 * passes 4 and 5 decide what is unreachable and what can be freed, and
 * read the lists from the pages.
 *
 * Out-of-line items (sparsevec) are copied too, after the nodes, reading
 * the item pages in block order.
 */
#include "compat.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnswvacuum.h"

struct HnswVacCache
{
	HnswSource	disk;			/* for what the copy does not hold */
	uint32		n;				/* ids 0 .. n - 1 copied */
	HnswNodeData *hdr;			/* per node; a free slot keeps HNSW_NODE_FREE */
	char	   *items;			/* walk_size per node: the item (without a
								 * re-ranking code, which VACUUM never
								 * reads), or with out-of-line items its
								 * reference */
	uint64	   *varoff;			/* out-of-line items: each one's offset in
								 * vitems */
	char	   *vitems;
	uint32	   *links0;			/* 2m per node; the count is hdr.nlinks */
	uint64	   *upper;			/* per node: offset of its upper lists in
								 * arena, levels x (count, m links) */
	uint32	   *arena;
	uint64		arena_used;
	uint64		arena_cap;
	Size		budget;
	Size		used;
};

#define CacheOf(src)	(((HnswVacuumState *) (src)->state)->cache)

/* Is id served from the copy? */
static inline bool
cached(const HnswVacCache *c, uint32 id)
{
	return id < c->n && !(c->hdr[id].flags & HNSW_NODE_FREE);
}

/* id's item in the copy (id cached) */
static inline const char *
itemOf(const HnswVacCache *c, const HnswState *st, uint32 id)
{
	if (c->varoff)
		return c->vitems + c->varoff[id];
	return c->items + (Size) id * st->walk_size;
}

static inline uint32 *
upperLinks(HnswVacCache *c, HnswState *st, uint32 id, int level)
{
	return c->arena + c->upper[id] + (Size) (level - 1) * (st->m + 1);
}

static int
cacheLinks(HnswSource *src, uint32 id, int level, uint32 *out)
{
	HnswVacCache *c = CacheOf(src);
	HnswState  *st = src->state;
	const HnswNodeData *h;
	const uint32 *lv;

	if (!cached(c, id))
		return c->disk.links(&c->disk, id, level, out);
	h = &c->hdr[id];
	if (level == 0)
	{
		memcpy(out, c->links0 + (Size) id * 2 * st->m, sizeof(uint32) * h->nlinks);
		return h->nlinks;
	}
	if (h->level < level)
		return 0;
	lv = upperLinks(c, st, id, level);
	memcpy(out, lv + 1, sizeof(uint32) * lv[0]);
	return lv[0];
}

static void
cacheScore(HnswSource *src, const void *query, const uint32 *ids, int n, HnswCand *cands)
{
	HnswVacCache *c = CacheOf(src);
	HnswState  *st = src->state;
	uint32		rest[2 * HNSW_MAX_M];
	int			where[2 * HNSW_MAX_M];
	HnswCand	restc[2 * HNSW_MAX_M];
	int			nrest = 0;
	/* with codes: the copied records, scored in one kernel call */
	const char *recs[2 * HNSW_MAX_M];
	int			at[2 * HNSW_MAX_M];
	HnswCand	recc[2 * HNSW_MAX_M];
	int			nrecs = 0;

	Assert(n <= 2 * HNSW_MAX_M);
	for (int k = 0; k < n; k++)
	{
		if (k + 1 < n && cached(c, ids[k + 1]))
			__builtin_prefetch(itemOf(c, st, ids[k + 1]));
		if (!cached(c, ids[k]))
		{
			where[nrest] = k;
			rest[nrest++] = ids[k];
			continue;
		}
		HnswFillCand(&cands[k], ids[k], &c->hdr[ids[k]]);
		if (st->bits != 0)
		{
			at[nrecs] = k;
			recs[nrecs++] = itemOf(c, st, ids[k]);
		}
		else
			cands[k].dist = HnswDist(st, query, itemOf(c, st, ids[k]));
	}
	if (nrecs > 0)
	{
		HnswScoreRecords(st, query, recs, nrecs, recc, get_float4_infinity());
		for (int i = 0; i < nrecs; i++)
		{
			cands[at[i]].dist = recc[i].dist;
			cands[at[i]].lower = recc[i].lower;
		}
	}
	if (nrest > 0)
	{
		c->disk.score(&c->disk, query, rest, nrest, restc);
		for (int i = 0; i < nrest; i++)
			cands[where[i]] = restc[i];
	}
}

static const char *
cacheItem(HnswSource *src, uint32 id, char *buf)
{
	HnswVacCache *c = CacheOf(src);

	/* the stored item (HnswSource.item): HnswSourceItem decodes codes */
	if (!cached(c, id))
	{
		HnswReadItem(src->state, id, buf);
		return buf;
	}
	return itemOf(c, src->state, id);
}

/* id's list on level is now links[0..n) on its page: copy it in. */
static void
cacheWrote(HnswSource *src, uint32 id, int level, const uint32 *links, int n)
{
	HnswVacCache *c = CacheOf(src);
	HnswState  *st = src->state;

	if (!cached(c, id))
		return;
	if (level == 0)
	{
		Assert(n <= 2 * st->m);
		memcpy(c->links0 + (Size) id * 2 * st->m, links, sizeof(uint32) * n);
		c->hdr[id].nlinks = n;
	}
	else if (c->hdr[id].level >= level)
	{
		uint32	   *lv = upperLinks(c, st, id, level);

		Assert(n <= st->m);
		memcpy(lv + 1, links, sizeof(uint32) * n);
		lv[0] = n;
	}
}

/* id's list on level changed on its page since it was copied: re-read it. */
static void
cacheStale(HnswSource *src, uint32 id, int level)
{
	HnswVacCache *c = CacheOf(src);
	uint32		links[2 * HNSW_MAX_M];
	int			n;

	if (!cached(c, id))
		return;
	n = c->disk.links(&c->disk, id, level, links);
	cacheWrote(src, id, level, links, n);
}

static void
freeCache(HnswVacCache *c)
{
	if (c->hdr)
		pfree(c->hdr);
	if (c->items)
		pfree(c->items);
	if (c->varoff)
		pfree(c->varoff);
	if (c->vitems)
		pfree(c->vitems);
	if (c->links0)
		pfree(c->links0);
	if (c->upper)
		pfree(c->upper);
	if (c->arena)
		pfree(c->arena);
	pfree(c);
}

/* The copy would outgrow mem_kb: free what was made, and say so. */
static bool
doesNotFit(HnswState *st, HnswVacCache *c, int mem_kb)
{
	ereport(DEBUG2,
			(errmsg("index \"%s\": the graph does not fit in %d kB: VACUUM repairs from the pages",
					RelationGetRelationName(st->index), mem_kb)));
	freeCache(c);
	return false;
}

/* Take bytes of the budget; false when they do not fit. */
static bool
take(HnswVacCache *c, Size bytes)
{
	if (bytes > c->budget - c->used)
		return false;
	c->used += bytes;
	return true;
}

/* Room for words more upper-list words; false when over the budget. */
static bool
growArena(HnswVacCache *c, uint64 words)
{
	uint64		cap = c->arena_cap;

	if (c->arena_used + words <= cap)
		return true;
	while (cap < c->arena_used + words)
		cap = Max(cap * 2, 1024);
	if (!take(c, (cap - c->arena_cap) * sizeof(uint32)))
		return false;
	c->arena = c->arena == NULL ?
		MemoryContextAllocHuge(CurrentMemoryContext, cap * sizeof(uint32)) :
		repalloc_huge(c->arena, cap * sizeof(uint32));
	c->arena_cap = cap;
	return true;
}

/* qsort order of cached ids by where their items are */
static int
refCompare(const void *a, const void *b, void *arg)
{
	const HnswVacCache *c = (const HnswVacCache *) arg;
	const HnswItemRef *ra = (const HnswItemRef *) (c->items + (Size) *(const uint32 *) a * sizeof(HnswItemRef));
	const HnswItemRef *rb = (const HnswItemRef *) (c->items + (Size) *(const uint32 *) b * sizeof(HnswItemRef));

	if (ra->blk != rb->blk)
		return ra->blk < rb->blk ? -1 : 1;
	return (int) ra->off - (int) rb->off;
}

/*
 * Out-of-line items (sparsevec): copy each cached node's item, reading the
 * item pages in block order, each once.  A reference that leads to no item
 * of its node is left to the disk source, which reports the damage.
 * False when the items do not fit the budget.
 */
static bool
loadItems(HnswVacuumState *vs, HnswVacCache *c)
{
	HnswState  *st = &vs->st;
	uint32	   *ids;
	uint32		nids = 0;
	uint64		bytes = 0;
	uint64		used = 0;

	Assert(st->item_size == sizeof(HnswItemRef));
	if (!take(c, sizeof(uint64) * (Size) c->n + sizeof(uint32) * (Size) c->n))
		return false;
	ids = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * (Size) c->n);
	for (uint32 id = 0; id < c->n; id++)
	{
		HnswItemRef *ref = (HnswItemRef *) (c->items + (Size) id * sizeof(HnswItemRef));

		if (!cached(c, id))
			continue;
		if (ref->blk == InvalidBlockNumber || ref->blk == HNSW_METAPAGE_BLKNO ||
			ref->len > st->item_max)
		{
			c->hdr[id].flags |= HNSW_NODE_FREE; /* the disk source reports it */
			continue;
		}
		ids[nids++] = id;
		bytes += MAXALIGN(ref->len);
	}
	if (!take(c, bytes))
	{
		pfree(ids);
		return false;
	}
	c->varoff = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * (Size) c->n);
	c->vitems = MemoryContextAllocHuge(CurrentMemoryContext, Max(bytes, 1));
	qsort_arg(ids, nids, sizeof(uint32), refCompare, c);
	for (uint32 i = 0; i < nids;)
	{
		BlockNumber blk = ((HnswItemRef *) (c->items + (Size) ids[i] * sizeof(HnswItemRef)))->blk;
		Buffer		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL,
											 vs->strategy);
		Page		page = BufferGetPage(buf);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		for (; i < nids; i++)
		{
			uint32		id = ids[i];
			HnswItemRef *ref = (HnswItemRef *) (c->items + (Size) id * sizeof(HnswItemRef));
			const char *item;

			if (ref->blk != blk)
				break;
			item = HnswItemTupleData(st, page, id, ref);
			if (item == NULL)
			{
				c->hdr[id].flags |= HNSW_NODE_FREE;
				continue;
			}
			memcpy(c->vitems + used, item, ref->len);
			c->varoff[id] = used;
			used += MAXALIGN(ref->len);
		}
		UnlockReleaseBuffer(buf);
		VecVacuumDelayPoint();
	}
	pfree(ids);
	return true;
}

/*
 * Copy the nodes VACUUM began with (ids below vs->nbits) into memory and
 * serve vs->src from the copy.  Returns false, leaving vs->src on the
 * pages, when the copy would not fit.
 */
bool
HnswVacCacheLoad(HnswVacuumState *vs)
{
	HnswState  *st = &vs->st;
	HnswVacCache *c;
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;
	int			mem_kb;
	Size		per_node;

	if (vs->nbits == 0)
		return false;
	mem_kb = (VecIsAutoVacuumWorker() && autovacuum_work_mem != -1) ?
		autovacuum_work_mem : maintenance_work_mem;

	c = palloc0(sizeof(HnswVacCache));
	c->budget = (Size) mem_kb * 1024;
	c->n = vs->nbits;
	per_node = sizeof(HnswNodeData) + st->walk_size + sizeof(uint32) * 2 * st->m +
		sizeof(uint64);
	if ((double) per_node * c->n > (double) c->budget || !take(c, per_node * c->n))
		return doesNotFit(st, c, mem_kb);
	c->hdr = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(HnswNodeData) * (Size) c->n);
	c->items = MemoryContextAllocHuge(CurrentMemoryContext, st->walk_size * (Size) c->n);
	c->links0 = MemoryContextAllocHuge(CurrentMemoryContext,
									   sizeof(uint32) * 2 * st->m * (Size) c->n);
	c->upper = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * (Size) c->n);
	HnswDiskSourceInit(&c->disk, st);

	/*
	 * Layer 0 and the headers, page by page.  An id past the last page
	 * (VACUUM's node count, taken before an insert's page was written)
	 * keeps the free flag below, and so goes to the disk.
	 */
	for (uint32 id = 0; id < c->n; id++)
		c->hdr[id].flags = HNSW_NODE_FREE;
	while (HnswNextNodePage(st, &it, &blk, &first, &nslots) && first < c->n)
	{
		uint32		n = Min(nslots, c->n - first);
		Buffer		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL,
											 vs->strategy);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		HnswCheckPage(st->index, page, blk, HNSW_PAGE_NODE);
		for (uint32 s = 0; s < n; s++)
		{
			HnswNode	node = HnswPageNode(page, st, s);
			uint32		id = first + s;

			c->hdr[id] = *node;
			if (node->flags & HNSW_NODE_FREE)
				continue;
			if (node->nlinks > 2 * st->m)
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("index \"%s\" node %u has an invalid neighbour list",
								RelationGetRelationName(st->index), id),
						 errhint("REINDEX the index.")));
			memcpy(c->items + (Size) id * st->walk_size, HnswNodeItem(node), st->walk_size);
			memcpy(c->links0 + (Size) id * 2 * st->m, HnswNodeLinks(node, st->item_size),
				   sizeof(uint32) * node->nlinks);
		}
		UnlockReleaseBuffer(buf);
		VecVacuumDelayPoint();
	}

	/* the upper lists (a node in m has them), from where its header says */
	for (uint32 id = 0; id < c->n; id++)
	{
		HnswNodeData *h = &c->hdr[id];

		if ((h->flags & HNSW_NODE_FREE) || h->level == 0)
			continue;
		if (!growArena(c, (uint64) h->level * (st->m + 1)))
			return doesNotFit(st, c, mem_kb);
		c->upper[id] = c->arena_used;
		c->arena_used += (uint64) h->level * (st->m + 1);
		for (int l = 1; l <= h->level; l++)
		{
			uint32	   *lv = upperLinks(c, st, id, l);

			lv[0] = HnswReadUpperLinks(st, id, h->upper_blk, h->upper_off, l, lv + 1);
		}
		if (id % 1024 == 0)
			VecVacuumDelayPoint();
	}

	if (st->item_refs && !loadItems(vs, c))
		return doesNotFit(st, c, mem_kb);

	vs->cache = c;
	vs->src.links = cacheLinks;
	vs->src.score = cacheScore;
	vs->src.prefetch = NULL;
	vs->src.item = cacheItem;
	vs->src.wrote = cacheWrote;
	vs->src.stale = cacheStale;
	vs->src.filter = NULL;
	vs->src.may = NULL;
	vs->src.lower_cut = get_float4_infinity();
	ereport(DEBUG2,
			(errmsg("index \"%s\": VACUUM copied %u nodes (%zu kB) to memory for its repairs",
					RelationGetRelationName(st->index), c->n, c->used / 1024)));
	return true;
}

/* Back to the pages (for passes 3 to 5), and free the copy. */
void
HnswVacCacheRelease(HnswVacuumState *vs)
{
	HnswVacCache *c = vs->cache;

	if (c == NULL)
		return;
	HnswDiskSourceInit(&vs->src, &vs->st);
	freeCache(c);
	vs->cache = NULL;
}
