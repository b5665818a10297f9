/*
 * hnswcheck.c
 *	  The hnsw part of vector_index_check(): node headers, neighbour lists,
 *	  the entry point, heap TIDs (and that a node whose heap slot VACUUM
 *	  freed is flagged deleted), out-of-line item references, and that
 *	  every live node can be reached from the entry point (a node no list
 *	  points to is never returned); on request, that a search for each live
 *	  node's own vector finds it.
 */
#include "compat.h"

#include "access/tableam.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "hnsw.h"

/*
 * Every node's item reference must lead to an item tuple of that node and
 * length.  The references were copied from the node pages, which are not
 * held now: an item page is never locked while holding a node page.
 */
static void
checkItemRefs(HnswState *st, VecCheck *c, const HnswItemRef *refs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(st->index);
	Buffer		buf = InvalidBuffer;

	for (uint32 id = 0; id < st->node_count; id++)
	{
		const HnswItemRef *ref = &refs[id];

		if ((id & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (ref->blk == InvalidBlockNumber && ref->off == 0 && ref->len == 0)
			continue;			/* its node page was reported */
		if (ref->blk == HNSW_METAPAGE_BLKNO || ref->blk >= nblocks)
		{
			VecCheckProblem(c, "node %u has item reference (%u,%u) outside the index",
							id, ref->blk, ref->off);
			continue;
		}
		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != ref->blk)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = ReadBuffer(st->index, ref->blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
		}
		if (HnswItemTupleData(st, BufferGetPage(buf), id, ref) == NULL)
			VecCheckProblem(c, "node %u has a dangling item reference (%u,%u)",
							id, ref->blk, ref->off);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * Is the heap row of an unreachable node visible to the check's snapshot?
 * A node whose insert was cut short (an error or a crash between its
 * allocation and its first incoming link) is unreachable, but its row
 * never committed: the next VACUUM flags it, and it is no problem.
 */
static bool
rowVisible(VecCheck *c, ItemPointer tid)
{
	bool		all_dead = false;
	ItemPointerData t = *tid;

	if (c->heap == NULL || !ItemPointerIsValid(&t) ||
		ItemPointerGetBlockNumberNoCheck(&t) >= c->heap_blocks)
		return true;			/* reported above, or no table to ask */
	return table_index_fetch_tuple_check(c->heap, &t, GetActiveSnapshot(), &all_dead);
}

/*
 * With codes: each live node's code must be the one its heap row's vector
 * codes to now.  A record written into another node's slot, a code made
 * with another centre, or a row whose vector changed under its TID would
 * pass every structural check and still misplace the row in the walk, or
 * give it a bound that does not hold.  With filter columns, each live
 * node's filter values must be its row's: a wrong one hides the row from
 * the scans that ask for its value, or returns it where an exactly
 * compared value says it matches when it does not.  The row is read as
 * the executor would, expressions evaluated (FormIndexDatum), and coded
 * again.
 */
static void
checkCodes(HnswState *st, VecCheck *c, const uint8 *flags, const ItemPointerData *tids)
{
	HnswRowReader *rows;
	char	   *item = palloc0(st->item_max);
	char	   *rec = palloc0(st->item_max);
	char	   *stored = palloc0(st->item_max);
	uint32	   *filt = palloc0(HnswFilterSize(st->filter_words));
	uint32	   *sfilt = palloc0(HnswFilterSize(st->filter_words));
	uint32		bad = 0,
				badf = 0,
				checked = 0;

	if ((st->bits == 0 && st->nfilters == 0) || c->heap == NULL)
		return;
	rows = HnswRowBegin(c->heap, st->index, GetActiveSnapshot());
	for (uint32 id = 0; id < st->node_count; id++)
	{
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];
		MemoryContext old;
		bool		indexed;

		if ((id & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if ((flags[id] & HNSW_NODE_DELETED) || !ItemPointerIsValid(&tids[id]) ||
			ItemPointerGetBlockNumberNoCheck(&tids[id]) >= c->heap_blocks)
			continue;
		if (!HnswRowRead(rows, &tids[id], values, isnull))
			continue;
		old = MemoryContextSwitchTo(HnswRowContext(rows));
		indexed = !isnull[0] &&
			VecIndexValueToItem(st->ops, st->metric, st->dim, values[0], item);
		if (indexed && st->nfilters > 0)
			HnswFilterForm(st, values, isnull, filt);
		MemoryContextSwitchTo(old);
		if (!indexed)
		{
			if (++bad <= 10)
				VecCheckProblem(c, "node %u points to heap tuple (%u,%u), whose value is not indexed",
								id, ItemPointerGetBlockNumberNoCheck(&tids[id]),
								ItemPointerGetOffsetNumberNoCheck(&tids[id]));
			continue;
		}
		checked++;
		if (st->nfilters > 0)
		{
			HnswReadFilter(st, id, sfilt);
			if (memcmp(filt, sfilt, st->filter_size) != 0 && ++badf <= 10)
				VecCheckProblem(c, "node %u's filter values are not those of heap tuple (%u,%u)",
								id, ItemPointerGetBlockNumberNoCheck(&tids[id]),
								ItemPointerGetOffsetNumberNoCheck(&tids[id]));
		}
		if (st->bits == 0)
			continue;
		HnswEncode(st, item, rec);
		HnswReadItem(st, id, stored);
		if (memcmp(rec, stored, st->item_size) != 0 && ++bad <= 10)
			VecCheckProblem(c, "node %u's code is not that of heap tuple (%u,%u)'s vector",
							id, ItemPointerGetBlockNumberNoCheck(&tids[id]),
							ItemPointerGetOffsetNumberNoCheck(&tids[id]));
	}
	if (bad > 0)
		VecCheckProblem(c, "%u of %u live nodes checked have a code that is not their row's", bad,
						checked);
	if (badf > 0)
		VecCheckProblem(c, "%u of %u live nodes checked have filter values that are not their row's",
						badf, checked);
	HnswRowEnd(rows);
}

/*
 * A node VACUUM did not flag must still have its heap slot.  VACUUM frees
 * a dead row's slot only after ambulkdelete has seen its TID, and pass 1
 * flags every node whose TID it reports; a live node on a freed slot means
 * a scan can return that TID, and once an insert reuses the slot, another
 * row.  A slot that pruning left dead (not yet vacuumed) is still in use.
 * A node that looks wrong is read again, since a VACUUM running now may
 * have flagged it after its header was copied.
 */
static void
checkHeapSlots(HnswState *st, VecCheck *c, const uint8 *flags, const ItemPointerData *tids)
{
	Buffer		hbuf = InvalidBuffer;
	uint32	   *gone = NULL;
	uint32		ngone = 0;
	uint32		reported = 0;

	if (c->heap == NULL)
		return;
	for (uint32 id = 0; id < st->node_count; id++)
	{
		BlockNumber hblk = ItemPointerGetBlockNumberNoCheck(&tids[id]);
		OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(&tids[id]);
		Page		page;

		if ((id & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if ((flags[id] & HNSW_NODE_DELETED) || !ItemPointerIsValid(&tids[id]) ||
			hblk >= c->heap_blocks)
			continue;			/* flagged, or reported above */
		if (!BufferIsValid(hbuf) || BufferGetBlockNumber(hbuf) != hblk)
		{
			if (BufferIsValid(hbuf))
				UnlockReleaseBuffer(hbuf);
			hbuf = ReadBufferExtended(c->heap, MAIN_FORKNUM, hblk, RBM_NORMAL, NULL);
			LockBuffer(hbuf, BUFFER_LOCK_SHARE);
		}
		page = BufferGetPage(hbuf);
		if (off > PageGetMaxOffsetNumber(page) || !ItemIdIsUsed(PageGetItemId(page, off)))
		{
			if (gone == NULL)
				gone = palloc_extended(sizeof(uint32) * st->node_count, MCXT_ALLOC_HUGE);
			gone[ngone++] = id;
		}
	}
	if (BufferIsValid(hbuf))
		UnlockReleaseBuffer(hbuf);

	/* no heap page is held while an index page is read */
	for (uint32 i = 0; i < ngone; i++)
	{
		BlockNumber blk;
		int			slot;
		Buffer		buf;
		HnswNode	node;
		bool		flagged;

		HnswLocateNode(st, gone[i], &blk, &slot);
		buf = HnswReadBuffer(st->index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		node = HnswPageNode(BufferGetPage(buf), st, slot);
		flagged = (node->flags & HNSW_NODE_DELETED) != 0;
		UnlockReleaseBuffer(buf);
		if (!flagged && ++reported <= 10)
			VecCheckProblem(c, "node %u is not flagged deleted, but its heap tuple (%u,%u) was removed",
							gone[i], ItemPointerGetBlockNumberNoCheck(&tids[gone[i]]),
							ItemPointerGetOffsetNumberNoCheck(&tids[gone[i]]));
	}
	if (reported > 10)
		VecCheckProblem(c, "%u nodes are not flagged deleted, but their heap tuples were removed",
						reported);
}

/*
 * The deeper mode: look every live graph node up by its own item, as a
 * scan with hnsw.ef_search = ef does (greedy descent from the entry point,
 * then a search of layer 0), and report the nodes it does not return.  A
 * node every walk reaches can still be missed, when the paths to it lead
 * away from it first; the reachability walk above cannot see that.  A
 * search whose results are all at distance 0 (more equal vectors than ef)
 * counts as finding it.
 */
static void
checkSelfLookups(HnswState *st, HnswSource *src, VecCheck *c, const uint8 *flags,
				 ItemPointerData *tids)
{
	int			ef = c->search_ef;
	char	   *item = palloc(st->item_max);
	void	   *qbuf = HnswQueryAlloc(st);
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	uint32		missed = 0,
				tried = 0;

	HnswVisitedInitHash(&visited, ef * 2 * st->m);
	HnswHeapInit(&cands, ef * 4, false);
	HnswHeapInit(&results, ef + 1, true);
	for (uint32 id = 0; id < st->node_count; id++)
	{
		bool		found = false;
		const void *query;

		if ((flags[id] & (HNSW_NODE_DELETED | HNSW_NODE_DUP)) || !rowVisible(c, &tids[id]))
			continue;
		/* with codes, the search is for the vector its code stands for */
		query = HnswItemQuery(st, HnswSourceItem(src, id, item), qbuf);
		HnswVisitedReset(&visited);
		cands.n = 0;
		results.n = 0;
		HnswSeedSearch(src, query, st->entry_id, st->entry_level,
					   hnsw_test_upper_ef > 0 ? hnsw_test_upper_ef : ef,
					   &cands, &results, ef, &visited, NULL);
		HnswSearchLayer(src, query, &cands, &results, ef, 0, &visited, NULL);
		for (int i = 0; i < results.n && !found; i++)
			found = results.items[i].id == id;
		if (!found && results.n >= ef && st->bits == 0 && HnswHeapTop(&results)->dist == 0)
			found = true;
		tried++;
		if (!found && ++missed <= 10)
			VecCheckProblem(c, "node %u (heap tuple (%u,%u)) is not found by a search for its own vector at ef %d",
							id, ItemPointerGetBlockNumberNoCheck(&tids[id]),
							ItemPointerGetOffsetNumberNoCheck(&tids[id]), ef);
	}
	if (missed > 0)
		VecCheckProblem(c, "%u of %u live nodes are not found by a search for their own vectors at ef %d",
						missed, tried, ef);
}

/*
 * Every duplicate chain holds duplicates only, and no freed slot: VACUUM
 * frees a member only once it is out of its chain (README.md, "Reusing
 * slots"), and a freed slot may be a new graph node or another chain's
 * member any time later.
 */
static void
checkChains(HnswState *st, VecCheck *c, const uint8 *flags, const uint32 *dup_next)
{
	uint32		reported = 0;

	for (uint32 id = 0; id < st->node_count; id++)
	{
		uint32		steps = 0;

		if (flags[id] & (HNSW_NODE_DUP | HNSW_NODE_FREE))
			continue;
		for (uint32 cur = dup_next[id]; cur < st->node_count; cur = dup_next[cur])
		{
			if (++steps > st->node_count)
			{
				VecCheckProblem(c, "the duplicate chain of node %u loops", id);
				break;
			}
			if ((flags[cur] & (HNSW_NODE_DUP | HNSW_NODE_FREE)) != HNSW_NODE_DUP)
			{
				if (++reported <= 10)
					VecCheckProblem(c, "the duplicate chain of node %u holds node %u, which is %s",
									id, cur, (flags[cur] & HNSW_NODE_FREE) ? "a freed slot" :
									"not a duplicate");
				break;
			}
		}
	}
}

/* what the reachability walk (HnswWalk) needs, and the checks of each link */
typedef struct CheckFacts
{
	VecCheck   *c;
	uint8	   *levels;
	uint8	   *flags;
} CheckFacts;

static void
walkLink(void *arg, uint32 id, int level, uint32 nb)
{
	CheckFacts *f = (CheckFacts *) arg;

	/*
	 * A flagged node's lists are no longer kept: they may still name a slot
	 * VACUUM freed since, or that a new node of another level or a
	 * duplicate now holds (README.md, "Reusing slots").  Live lists never
	 * name a freed slot: VACUUM frees only what no live list links to.
	 */
	if (f->flags[id] & HNSW_NODE_DELETED)
		return;
	if (f->flags[nb] & HNSW_NODE_FREE)
	{
		VecCheckProblem(f->c, "node %u links on level %d to node %u, a freed slot",
						id, level, nb);
		return;
	}
	if (level > 0 && f->levels[nb] < level)
		VecCheckProblem(f->c, "node %u links on level %d to node %u, whose level is %d",
						id, level, nb, f->levels[nb]);
	if (f->flags[nb] & HNSW_NODE_DUP)
		VecCheckProblem(f->c, "node %u links to node %u, a duplicate", id, nb);
}

void
HnswCheckIndex(Relation index, VecCheck *c)
{
	HnswState  *st = palloc0(sizeof(HnswState));
	HnswSource	src;
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;
	uint8	   *levels;
	uint8	   *flags;
	uint32	   *dup_next;
	ItemPointerData *tids;
	uint8	   *reached;
	CheckFacts	facts;
	HnswWalk	walk;
	uint32		live = 0,
				unreachable = 0;
	HnswItemRef *refs = NULL;
	char	   *filters = NULL;

	HnswInitState(st, index);
	HnswLoadMeta(st);
	HnswDiskSourceInit(&src, st);
	if (st->node_count == 0)
	{
		if (st->entry_id != HNSW_NO_NODE)
			VecCheckProblem(c, "empty index has entry point %u", st->entry_id);
		return;
	}

	levels = palloc_extended(st->node_count, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	flags = palloc_extended(st->node_count, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	dup_next = palloc_extended(sizeof(uint32) * st->node_count, MCXT_ALLOC_HUGE);
	tids = palloc_extended(sizeof(ItemPointerData) * st->node_count, MCXT_ALLOC_HUGE);
	if (st->nfilters > 0)
		filters = palloc_extended(st->filter_size * st->node_count, MCXT_ALLOC_HUGE);
	facts.c = c;
	facts.levels = levels;
	facts.flags = flags;
	HnswWalkInit(&walk, &src, st->node_count, levels, dup_next, &facts);
	walk.on_link = walkLink;
	reached = walk.reached;
	if (st->item_refs)
	{
		refs = palloc_extended(sizeof(HnswItemRef) * st->node_count, MCXT_ALLOC_HUGE);
		for (uint32 id = 0; id < st->node_count; id++)
		{
			refs[id].blk = InvalidBlockNumber;
			refs[id].off = 0;
			refs[id].len = 0;
		}
	}

	/* headers and level-0 lists, page by page */
	while (HnswNextNodePage(st, &it, &blk, &first, &nslots))
	{
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		if (nslots == 0)
			continue;
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!HnswPageIs(page, HNSW_PAGE_NODE))
		{
			VecCheckProblem(c, "block %u holds nodes %u.. but is not a node page", blk, first);
			UnlockReleaseBuffer(buf);
			continue;
		}
		for (uint32 s = 0; s < nslots; s++)
		{
			uint32		id = first + s;
			HnswNode	node = HnswPageNode(page, st, s);
			uint32	   *l = HnswNodeLinks(node, st->item_size);

			/* a chained duplicate has no lists for the walk to follow */
			levels[id] = (node->flags & HNSW_NODE_DUP) ? HNSW_WALK_DUP : node->level;
			flags[id] = node->flags;
			if (refs)
				memcpy(&refs[id], HnswNodeItem(node), sizeof(HnswItemRef));
			dup_next[id] = node->dup_next;
			tids[id] = node->heaptid;
			if (filters)
				memcpy(filters + (Size) id * st->filter_size, HnswNodeFilter(node, st),
					   st->filter_size);
			if (node->level > HNSW_MAX_LEVEL)
				VecCheckProblem(c, "node %u has level %d", id, node->level);
			if (node->nlinks > 2 * st->m)
				VecCheckProblem(c, "node %u has %d level-0 links, more than 2m = %d",
								id, node->nlinks, 2 * st->m);
			for (int i = 0; i < Min(node->nlinks, 2 * st->m); i++)
			{
				if (l[i] >= st->node_count)
					VecCheckProblem(c, "node %u links to node %u, past the last node %u",
									id, l[i], st->node_count - 1);
				else if (l[i] == id)
					VecCheckProblem(c, "node %u links to itself", id);
			}
			if (node->dup_next != HNSW_NO_NODE && node->dup_next >= st->node_count)
				VecCheckProblem(c, "node %u has duplicate %u, past the last node", id, node->dup_next);
			/* VACUUM flags a node before it truncates the heap under it */
			if (!ItemPointerIsValid(&node->heaptid) ||
				(ItemPointerGetBlockNumberNoCheck(&node->heaptid) >= c->heap_blocks &&
				 !(node->flags & HNSW_NODE_DELETED)))
				VecCheckProblem(c, "node %u points to heap tuple (%u,%u), outside the table",
								id, ItemPointerGetBlockNumberNoCheck(&node->heaptid),
								ItemPointerGetOffsetNumberNoCheck(&node->heaptid));
			if (node->level > 0 && node->upper_blk == InvalidBlockNumber)
				VecCheckProblem(c, "node %u has level %d but no upper record", id, node->level);
		}
		UnlockReleaseBuffer(buf);
	}
	if (refs)
		checkItemRefs(st, c, refs);
	checkHeapSlots(st, c, flags, tids);
	checkChains(st, c, flags, dup_next);
	checkCodes(st, c, flags, tids);
	if (filters)
		HnswCheckTags(st, c, flags, filters);

	/* the entry point */
	if (st->entry_id == HNSW_NO_NODE)
	{
		/*
		 * VACUUM leaves none when it found no live node (every row deleted,
		 * or only rows that are not indexed added since): sound while no
		 * live node is there.
		 */
		uint32		nlive = 0;

		for (uint32 id = 0; id < st->node_count; id++)
			if (!(flags[id] & (HNSW_NODE_DELETED | HNSW_NODE_FREE)) && rowVisible(c, &tids[id]))
				nlive++;
		if (nlive > 0)
			VecCheckProblem(c, "the index has no entry point but %u live nodes", nlive);
		return;
	}
	if (st->entry_id >= st->node_count)
	{
		VecCheckProblem(c, "entry point %u is not a node of the index", st->entry_id);
		return;
	}
	if (!(flags[st->entry_id] & HNSW_NODE_DUP) && levels[st->entry_id] != st->entry_level)
		VecCheckProblem(c, "entry point %u has level %d, the metapage says %d",
						st->entry_id, levels[st->entry_id], st->entry_level);
	if (flags[st->entry_id] & HNSW_NODE_DUP)
		VecCheckProblem(c, "entry point %u is a duplicate, not a graph node", st->entry_id);

	/* reachability: breadth first over every level's links */
	HnswWalkFrom(&walk, st->entry_id);
	for (uint32 id = 0; id < st->node_count; id++)
	{
		if (flags[id] & HNSW_NODE_DELETED)
			continue;
		live++;
		if (!reached[id] && rowVisible(c, &tids[id]))
		{
			unreachable++;
			if (unreachable <= 10)
				VecCheckProblem(c, "node %u cannot be reached from the entry point", id);
		}
	}
	if (unreachable > 0)
		VecCheckProblem(c, "%u of %u live nodes cannot be reached from the entry point",
						unreachable, live);
	else
	{
		/*
		 * Layer 0 alone, as an iterative scan goes on: a node whose only
		 * ways in are upper-level links is found by the scans whose level-1
		 * beam holds it and by no other.
		 */
		HnswWalkReset(&walk);
		walk.layer0 = true;
		walk.on_link = NULL;
		HnswWalkFrom(&walk, st->entry_id);
		for (uint32 id = 0; id < st->node_count; id++)
			if (!(flags[id] & HNSW_NODE_DELETED) && !reached[id] && rowVisible(c, &tids[id]))
			{
				unreachable++;
				if (unreachable <= 10)
					VecCheckProblem(c, "node %u cannot be reached from the entry point on layer 0",
									id);
			}
		if (unreachable > 0)
			VecCheckProblem(c, "%u of %u live nodes cannot be reached from the entry point on layer 0",
							unreachable, live);
	}
	if (c->search_ef > 0)
		checkSelfLookups(st, &src, c, flags, tids);
}
