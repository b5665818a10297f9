/*
 * hnswdisk.c
 *	  Graph access through the buffer manager, for inserts, scans and
 *	  VACUUM.  Every page is share-locked only while its data is copied or
 *	  scored, and never together with another page, so readers cannot
 *	  deadlock with writers (see README.md, "Locking").
 */
#include "compat.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/*
 * Most pages diskScore keeps pinned at once.  A backend counts its first 8
 * pins in an array and the rest in a hash table (bufmgr.c's private
 * reference counts), and the executor holds one or two of its own; with 16
 * here, that hash table was 1.6 % of an unfiltered sift-128 query, and 6
 * took 4 to 8 % off a query's CPU time.  The items are prefetched before
 * any pin, so pinning in smaller groups loses no overlap.
 */
#define HNSW_SCORE_PINS		6

static void
corruptLinks(HnswState *st, uint32 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" node %u has an invalid neighbour list",
					RelationGetRelationName(st->index), id),
			 errhint("REINDEX the index.")));
}

/*
 * Copy the upper-level links of id (level >= 1) from its upper record at
 * (blk, off), which the caller read from id's header.
 */
int
HnswReadUpperLinks(HnswState *st, uint32 id, BlockNumber blk, OffsetNumber off,
			   int level, uint32 *out)
{
	Buffer		buf = HnswReadBuffer(st->index, blk);
	Page		page;
	HnswUpperData *rec;
	HnswUpperLevel *lv;
	int			n = 0;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	rec = HnswUpperRecord(st, page, blk, off, id);
	if (level <= rec->nlevels)
	{
		lv = HnswUpperGetLevel(rec, st->m, level);
		n = lv->count;
		if (n > st->m)
			corruptLinks(st, id);
		memcpy(out, lv->links, sizeof(uint32) * n);
	}
	UnlockReleaseBuffer(buf);
	return n;
}

static int
diskLinks(HnswSource *src, uint32 id, int level, uint32 *out)
{
	HnswState  *st = src->state;
	BlockNumber blk;
	int			slot;
	Buffer		buf;
	HnswNode	node;
	int			n = 0;
	BlockNumber upper_blk = InvalidBlockNumber;
	OffsetNumber upper_off = InvalidOffsetNumber;

	HnswLocateNode(st, id, &blk, &slot);
	buf = HnswReadBuffer(st->index, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
	node = HnswPageNode(BufferGetPage(buf), st, slot);
	if (level == 0)
	{
		n = node->nlinks;
		if (n > 2 * st->m)
			corruptLinks(st, id);
		memcpy(out, HnswNodeLinks(node, st->item_size), sizeof(uint32) * n);
	}
	else if (node->level >= level)
	{
		upper_blk = node->upper_blk;
		upper_off = node->upper_off;
	}
	UnlockReleaseBuffer(buf);

	if (upper_blk != InvalidBlockNumber)
		n = HnswReadUpperLinks(st, id, upper_blk, upper_off, level, out);
	return n;
}

/*
 * Insert entry k into order[0..k), which sorts blks[] ascending (insertion
 * sort: batches are at most 2m long).
 */
static inline void
orderByBlock(const BlockNumber *blks, int *order, int k)
{
	int			j;

	for (j = k; j > 0 && blks[order[j - 1]] > blks[k]; j--)
		order[j] = order[j - 1];
	order[j] = k;
}

/*
 * The next candidate's page and list, while this one's neighbours are
 * scored (HnswSearchLayer): on layer 0 its list lies in its node.
 */
static void
diskPrefetch(HnswSource *src, uint32 id, int level)
{
	HnswState  *st = src->state;
	BlockNumber blk;
	int			slot;
	char	   *page;

	if (!HnswFindNode(st, id, &blk, &slot) || (page = HnswPrefetchPage(st->index, blk)) == NULL)
		return;
	if (level == 0)
	{
		HnswNode	node = HnswPageNode(page, st, slot);

		__builtin_prefetch(node);
		HnswPrefetchBytes((char *) HnswNodeLinks(node, st->item_size),
						  sizeof(uint32) * 2 * st->m);
	}
}

/*
 * Score a batch of nodes.  Their pages are pinned first (a group at a time)
 * and the items prefetched, so that the cache misses of the group overlap
 * instead of stalling one distance at a time; then each page is locked once and
 * its nodes scored straight from the page, without copying the items.
 */
static void
diskScore(HnswSource *src, const void *query, const uint32 *ids, int n,
		  HnswCand *cands)
{
	HnswState  *st = src->state;
	BlockNumber blks[2 * HNSW_MAX_M];
	int			slots[2 * HNSW_MAX_M];
	int			order[2 * HNSW_MAX_M];
	Buffer		bufs[HNSW_SCORE_PINS];
	int			nbufs = 0;
	int			i;
	/* with codes: the records are copied out, and scored in one kernel call */
	char	   *batch = st->bits ? HnswCodesBatch(st) : NULL;
	const char *recs[2 * HNSW_MAX_M];
	Size		recsize = MAXALIGN(st->item_size);
	char	   *hinted = NULL;

	Assert(n <= 2 * HNSW_MAX_M);
	for (int k = 0; k < n; k++)
	{
		HnswLocateNode(st, ids[k], &blks[k], &slots[k]);
		orderByBlock(blks, order, k);
	}
	/*
	 * The nodes' headers and items, before the pins wait on each page, and
	 * under a filter their filter values, which lie past the lists (a miss
	 * on them was 70 % of diskScore's time in a 10 % filter's walk).
	 */
	for (int j = 0; j < n; j++)
	{
		int			k = order[j];
		HnswNode	node;

		if (j == 0 || blks[k] != blks[order[j - 1]])
			hinted = HnswPrefetchPage(st->index, blks[k]);
		if (hinted == NULL)
			continue;
		node = HnswPageNode(hinted, st, slots[k]);
		HnswPrefetchBytes((char *) node, sizeof(HnswNodeData) + st->walk_size);
		if (src->filter)
			__builtin_prefetch(HnswNodeFilter(node, st));
	}

	/*
	 * Pin at most HNSW_SCORE_PINS pages at a time: with small
	 * shared_buffers, a backend holding a whole batch's pins could leave
	 * others (and itself) without a buffer to evict.
	 */
	i = 0;
	while (i < n)
	{
		int			start = i;

		nbufs = 0;
		for (; i < n; i++)
		{
			int			k = order[i];
			const char *item;

			if (i == start || blks[k] != blks[order[i - 1]])
			{
				if (nbufs == HNSW_SCORE_PINS)
					break;
				bufs[nbufs++] = HnswReadBuffer(st->index, blks[k]);
			}
			/* no lock needed to prefetch: the address is stable while pinned */
			item = HnswNodeItem(HnswPageNode(BufferGetPage(bufs[nbufs - 1]), st, slots[k]));
			for (Size off = 0; off < st->walk_size; off += 64)
				__builtin_prefetch(item + off);
		}

		for (int b = 0, j = start; b < nbufs; b++)
		{
			BlockNumber blk = blks[order[j]];
			Page		page = BufferGetPage(bufs[b]);

			LockBuffer(bufs[b], BUFFER_LOCK_SHARE);
			HnswCheckPage(st->index, page, blk, HNSW_PAGE_NODE);
			for (; j < i && blks[order[j]] == blk; j++)
			{
				int			k = order[j];
				HnswNode	node = HnswPageNode(page, st, slots[k]);
				HnswCand   *c = &cands[k];

				HnswFillCand(c, ids[k], node);
				if (src->filter)
					c->nomatch = !HnswFilterMatch(src->filter, HnswNodeFilter(node, st));
				if (batch)
				{
					/* not a re-ranking code: only a batch needs it (HnswDiskRerank) */
					memcpy(batch + recsize * k, HnswNodeItem(node), st->walk_size);
					recs[k] = batch + recsize * k;
				}
				else
					c->dist = HnswDist(st, query, HnswNodeItem(node));
			}
			UnlockReleaseBuffer(bufs[b]);
		}
	}
	if (batch)
		HnswScoreRecords(st, query, recs, n, cands, src->lower_cut);
}

/*
 * Tighten the bounds of a scan's batch, cands[0..n), by the nodes'
 * re-ranking codes (HnswRerankRecords), so that the scan reads the heap
 * rows of fewer of them.  The pages were read moments ago by the walk.  A
 * node whose slot no longer holds the row it was scored for (VACUUM moved
 * a member's row into a dead chain head, or freed the slot and another row
 * took it) keeps the bound it has: both bounds hold for the same vector
 * only.
 */
void
HnswDiskRerank(HnswState *st, void *query, HnswCand *cands, int n)
{
	char	   *batch = HnswCodesBatch(st);
	Size		recsize = MAXALIGN(st->item_size);
	Size		len = st->item_size - st->walk_size;
	const char *recs[2 * HNSW_MAX_M];
	BlockNumber blks[2 * HNSW_MAX_M];
	int			slots[2 * HNSW_MAX_M];
	int			order[2 * HNSW_MAX_M];

	Assert(st->rerank_bits > 0);
	for (int base = 0; base < n; base += 2 * HNSW_MAX_M)
	{
		int			cnt = Min(n - base, 2 * HNSW_MAX_M);
		HnswCand   *c = cands + base;
		Buffer		buf = InvalidBuffer;

		for (int k = 0; k < cnt; k++)
		{
			HnswLocateNode(st, c[k].id, &blks[k], &slots[k]);
			orderByBlock(blks, order, k);
		}
		for (int j = 0; j < cnt; j++)
		{
			int			k = order[j];
			HnswNode	node;

			if (j == 0 || blks[k] != blks[order[j - 1]])
			{
				if (BufferIsValid(buf))
					UnlockReleaseBuffer(buf);
				buf = HnswReadBuffer(st->index, blks[k]);
				LockBuffer(buf, BUFFER_LOCK_SHARE);
				HnswCheckPage(st->index, BufferGetPage(buf), blks[k], HNSW_PAGE_NODE);
			}
			node = HnswPageNode(BufferGetPage(buf), st, slots[k]);
			recs[k] = NULL;
			if (!(node->flags & HNSW_NODE_FREE) && ItemPointerEquals(&node->heaptid, &c[k].tid))
			{
				memcpy(batch + recsize * k, HnswNodeItem(node) + st->walk_size, len);
				recs[k] = batch + recsize * k;
			}
		}
		if (BufferIsValid(buf))
			UnlockReleaseBuffer(buf);
		HnswRerankRecords(st, query, recs, cnt, c);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
corruptItem(HnswState *st, uint32 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" node %u has an invalid item reference",
					RelationGetRelationName(st->index), id),
			 errhint("REINDEX the index.")));
}

/*
 * diskScore for out-of-line items (HNSW_META_ITEM_REFS), chosen once when
 * the source is set up, so the fixed-size path above stays as it is.  Two
 * passes, each locking one page at a time: the node pages, for the
 * headers and the item references; then the item pages, scoring the items
 * where they lie.  A reference never changes while the node lives, so it
 * stays good after the node page is released; VACUUM deletes the item of
 * a node it frees (hnswreclaim.c), and clears the reference.
 */
static void
diskScoreRefs(HnswSource *src, const void *query, const uint32 *ids, int n,
			  HnswCand *cands)
{
	HnswState  *st = src->state;
	BlockNumber blks[2 * HNSW_MAX_M];
	int			slots[2 * HNSW_MAX_M];
	int			order[2 * HNSW_MAX_M];
	HnswItemRef refs[2 * HNSW_MAX_M];
	int			missing[2 * HNSW_MAX_M];
	int			nmissing = 0;
	int			j;

	Assert(n <= 2 * HNSW_MAX_M);
	for (int k = 0; k < n; k++)
	{
		HnswLocateNode(st, ids[k], &blks[k], &slots[k]);
		orderByBlock(blks, order, k);
	}

	for (j = 0; j < n;)
	{
		BlockNumber blk = blks[order[j]];
		Buffer		buf = HnswReadBuffer(st->index, blk);
		Page		page = BufferGetPage(buf);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		HnswCheckPage(st->index, page, blk, HNSW_PAGE_NODE);
		for (; j < n && blks[order[j]] == blk; j++)
		{
			int			k = order[j];
			HnswNode	node = HnswPageNode(page, st, slots[k]);
			HnswCand   *c = &cands[k];

			HnswFillCand(c, ids[k], node);
			if (src->filter)
				c->nomatch = !HnswFilterMatch(src->filter, HnswNodeFilter(node, st));
			memcpy(&refs[k], HnswNodeItem(node), sizeof(HnswItemRef));
		}
		UnlockReleaseBuffer(buf);
	}

	for (int k = 0; k < n; k++)
	{
		blks[k] = refs[k].blk;
		orderByBlock(blks, order, k);
	}
	for (j = 0; j < n;)
	{
		BlockNumber blk = blks[order[j]];
		Buffer		buf;
		Page		page;

		/* no reference (a freed slot's, sorted last): see below */
		if (blk == InvalidBlockNumber)
		{
			for (; j < n; j++)
				missing[nmissing++] = order[j];
			break;
		}
		/* (a block past the end is an error in ReadBuffer) */
		if (blk == HNSW_METAPAGE_BLKNO)
			corruptItem(st, ids[order[j]]);
		buf = HnswReadBuffer(st->index, blk);
		page = BufferGetPage(buf);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		for (; j < n && blks[order[j]] == blk; j++)
		{
			int			k = order[j];
			const char *item = HnswItemTupleData(st, page, ids[k], &refs[k]);

			if (item == NULL)
			{
				missing[nmissing++] = k;
				continue;
			}
			cands[k].dist = HnswDist(st, query, item);
		}
		UnlockReleaseBuffer(buf);
	}

	/*
	 * No item where the reference said, or no reference: VACUUM freed the
	 * node (a flagged one, met through a flagged node's stale list) and
	 * deleted its item, before or after the header was read.  Then the
	 * node's record says so now, and the slot, which has no lists to
	 * follow, scores as infinitely far; else the reference is damaged.
	 */
	for (int i = 0; i < nmissing; i++)
	{
		int			k = missing[i];
		Buffer		buf;
		HnswNode	node = HnswLockNode(st, ids[k], BUFFER_LOCK_SHARE, &buf);
		bool		gone = (node->flags & HNSW_NODE_FREE) ||
			memcmp(HnswNodeItem(node), &refs[k], sizeof(HnswItemRef)) != 0;

		UnlockReleaseBuffer(buf);
		if (!gone)
			corruptItem(st, ids[k]);
		cands[k].deleted = cands[k].self_dead = true;
		cands[k].dist = get_float4_infinity();
	}
}

void
HnswDiskSourceInit(HnswSource *src, HnswState *st)
{
	src->links = diskLinks;
	src->score = st->item_refs ? diskScoreRefs : diskScore;
	src->prefetch = diskPrefetch;
	src->item = NULL;
	src->wrote = NULL;
	src->stale = NULL;
	src->state = st;
	src->filter = NULL;
	src->may = NULL;
	src->nmay = 0;
	src->lower_cut = get_float4_infinity();
}

/*
 * Node id's record, on its page pinned and locked in mode (*buf); the
 * caller unlocks and releases it.
 */
HnswNode
HnswLockNode(HnswState *st, uint32 id, int mode, Buffer *buf)
{
	BlockNumber blk;
	int			slot;

	HnswLocateNode(st, id, &blk, &slot);
	*buf = HnswReadBuffer(st->index, blk);
	LockBuffer(*buf, mode);
	HnswCheckPage(st->index, BufferGetPage(*buf), blk, HNSW_PAGE_NODE);
	return HnswPageNode(BufferGetPage(*buf), st, slot);
}

/* Copy len bytes at offset off of node id's record into dst. */
static void
copyFromNode(HnswState *st, uint32 id, Size off, Size len, void *dst)
{
	Buffer		buf;
	HnswNode	node = HnswLockNode(st, id, BUFFER_LOCK_SHARE, &buf);

	memcpy(dst, (char *) node + off, len);
	UnlockReleaseBuffer(buf);
}

/*
 * Copy the item that ref (copied from node id's record) points to into dst,
 * which has room for item_max bytes.
 */
void
HnswReadItemRef(HnswState *st, uint32 id, const HnswItemRef *ref, void *dst)
{
	Buffer		buf;
	const char *item;

	if (ref->blk == InvalidBlockNumber || ref->blk == HNSW_METAPAGE_BLKNO)
		corruptItem(st, id);
	buf = HnswReadBuffer(st->index, ref->blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	item = HnswItemTupleData(st, BufferGetPage(buf), id, ref);
	if (item == NULL)
		corruptItem(st, id);
	memcpy(dst, item, ref->len);
	UnlockReleaseBuffer(buf);
}

/*
 * Copy the stored item of node id into dst (item_max bytes of room): from
 * the record, or for out-of-line items through the reference, the node
 * page released before the item page is locked.
 */
void
HnswReadItem(HnswState *st, uint32 id, void *dst)
{
	HnswItemRef ref;

	if (!st->item_refs)
	{
		copyFromNode(st, id, sizeof(HnswNodeData), st->item_size, dst);
		return;
	}
	copyFromNode(st, id, sizeof(HnswNodeData), sizeof(HnswItemRef), &ref);
	HnswReadItemRef(st, id, &ref, dst);
}

/* Copy the header of node id into dst. */
void
HnswReadHeader(HnswState *st, uint32 id, HnswNodeData *dst)
{
	copyFromNode(st, id, 0, sizeof(HnswNodeData), dst);
}

/*
 * Copy the header of chain member id, and return its stamp (HnswDupStamp;
 * meaningless unless the header says HNSW_NODE_DUP), under one page lock.
 */
uint64
HnswReadMember(HnswState *st, uint32 id, HnswNodeData *dst)
{
	Buffer		buf;
	HnswNode	node = HnswLockNode(st, id, BUFFER_LOCK_SHARE, &buf);
	uint64		stamp;

	memcpy(dst, node, sizeof(HnswNodeData));
	stamp = HnswDupStamp(node, st->item_size);
	UnlockReleaseBuffer(buf);
	return stamp;
}
