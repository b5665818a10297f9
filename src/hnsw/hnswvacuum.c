/*
 * hnswvacuum.c
 *	  VACUUM: mark the nodes of dead heap rows deleted, repair the lists
 *	  that pointed at them, and move the entry point off a deleted node.
 *
 * Pass 1 walks the node pages in order and flags nodes whose heap TID the
 * callback reports dead (one WAL record per changed page).  Pass 2 walks
 * them again and rebuilds every list, on every level, that holds a deleted
 * node: the candidates are the live links plus the live links of the
 * deleted ones (their lists stay intact for this), chosen with the same
 * heuristic as inserts.  Deleted nodes stay traversable until then, so
 * concurrent scans and inserts keep working throughout; scans never return
 * them.  Pass 1b takes dead members out of duplicate chains
 * (hnswvacchain.c), pass 3 moves the entry point, pass 4 relinks what the
 * entry point cannot reach, and pass 5 frees the slots nothing can lead to
 * any more (both hnswreclaim.c; README.md, section 5 and "Reusing slots").
 * The passes in block order read each node page once, through VACUUM's
 * buffer ring (info->strategy), so that a large index does not push the
 * working set out of shared buffers.
 */
#include "compat.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnswvacuum.h"

/* Pass 1: flag dead nodes, count live ones, remember the highest live. */
static void
markDeleted(HnswVacuumState *vs, IndexBulkDeleteResult *stats,
			IndexBulkDeleteCallback callback, void *callback_state)
{
	HnswState  *st = &vs->st;
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;

	while (HnswNextNodePage(st, &it, &blk, &first, &nslots))
	{
		Buffer		buf;
		GenericXLogState *xlog;
		Page		page;
		bool		changed = false;

		VecVacuumDelayPoint();
		if (nslots == 0)
			continue;
		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL, vs->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
		xlog = VecXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);
		for (uint32 s = 0; s < nslots && first + s < vs->nbits; s++)
		{
			HnswNode	node = HnswPageNode(page, st, s);
			uint32		id = first + s;

			/*
			 * A freed slot is in no live list, and an insert may take it
			 * for a new node at any moment: not deleted for this VACUUM.
			 */
			if (node->flags & HNSW_NODE_FREE)
				continue;
			if (!(node->flags & HNSW_NODE_DELETED) && callback(&node->heaptid, callback_state))
			{
				node->flags |= HNSW_NODE_DELETED;
				changed = true;
				stats->tuples_removed++;
			}
			/*
			 * Chained duplicates are not in the graph: out of the way of
			 * repairs, but nothing to repair.  A graph node whose row is
			 * gone stays in the graph while it leads a chain.
			 */
			if (node->flags & HNSW_NODE_DUP)
			{
				vs->deleted[id / 8] |= 1 << (id % 8);
				if (!(node->flags & HNSW_NODE_DELETED))
					stats->num_index_tuples++;
			}
			else if ((node->flags & HNSW_NODE_DELETED) && node->dup_next == HNSW_NO_NODE)
			{
				vs->deleted[id / 8] |= 1 << (id % 8);
				vs->ndeleted++;
			}
			else
			{
				if (!(node->flags & HNSW_NODE_DELETED))
					stats->num_index_tuples++;
				/* a dead head may lose its chain in pass 1b: not the best */
				if ((int) node->level > vs->best_level && !(node->flags & HNSW_NODE_DELETED))
				{
					vs->best = id;
					vs->best_level = node->level;
				}
				if (node->dup_next != HNSW_NO_NODE)
				{
					if (vs->nheads == vs->heads_cap)
					{
						vs->heads_cap *= 2;
						vs->heads = repalloc_huge(vs->heads, sizeof(uint32) * vs->heads_cap);
					}
					vs->heads[vs->nheads++] = id;
				}
			}
		}
		if (changed)
			GenericXLogFinish(xlog);
		else
			GenericXLogAbort(xlog);
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Search level with a beam of ef for the nodes nearest to id's item
 * (vs->baseitem), from the entry point as an insert would; up to ef live
 * ones other than id go to out.  repairList says why every repair
 * searches: after heavy deletes whole neighbourhoods go, and rows that
 * came later are known only to a search.
 */
static int
searchCandidates(HnswVacuumState *vs, uint32 id, int level, HnswCand *out, int ef)
{
	HnswState  *st = &vs->st;
	HnswVisited visited;
	HnswHeap	cands;
	HnswHeap	results;
	HnswCand	ep;
	int			n = 0;

	if (st->entry_id == HNSW_NO_NODE || st->entry_level < level)
		return 0;
	HnswVisitedInitHash(&visited, ef * 2 * st->m);
	HnswHeapInit(&cands, ef * 4, false);
	HnswHeapInit(&results, ef + 1, true);
	ep = HnswGreedyDescend(&vs->src, vs->basequery, st->entry_id, st->entry_level, level);
	HnswVisitedAdd(&visited, id);
	HnswVisitedAdd(&visited, ep.id);
	HnswHeapPush(&cands, &ep);
	if (!ep.deleted && ep.id != id)
		HnswHeapPush(&results, &ep);
	HnswSearchLayer(&vs->src, vs->basequery, &cands, &results, ef, level, &visited, NULL);
	for (int i = 0; i < results.n && n < ef; i++)
		if (!IsDeleted(vs, results.items[i].id))
			out[n++] = results.items[i];
	return n;
}

/*
 * Rebuild id's list on level when it holds a deleted node.  base is id's
 * item.  Lost races with inserts are retried; the last attempt's loss is
 * left for the next VACUUM.
 */
static void
repairList(HnswVacuumState *vs, uint32 id, int level)
{
	HnswState  *st = &vs->st;
	int			maxlinks = HnswMaxLinks(st->m, level);

	for (int attempt = 0; attempt < 3; attempt++)
	{
		uint32		cur[2 * HNSW_MAX_M];
		int			ncur = vs->src.links(&vs->src, id, level, cur);
		uint32	   *ids;
		int			nids = 0;
		HnswCand   *cands;
		const char **itemptr;
		uint32		kept[2 * HNSW_MAX_M];
		int			nkept;
		bool		any = false;
		HnswVisited seen;
		int			ncand = 0;

		for (int i = 0; i < ncur; i++)
			any |= IsDeleted(vs, cur[i]);
		if (!any)
			return;

		/* live links, then the live links of the deleted ones */
		ids = palloc_array(uint32, maxlinks * (maxlinks + 1));
		HnswVisitedInitHash(&seen, maxlinks * (maxlinks + 1));
		HnswVisitedAdd(&seen, id);
		for (int i = 0; i < ncur; i++)
		{
			if (!IsDeleted(vs, cur[i]) && HnswVisitedAdd(&seen, cur[i]))
				ids[nids++] = cur[i];
		}
		for (int i = 0; i < ncur; i++)
		{
			uint32		hop[2 * HNSW_MAX_M];
			int			nhop;

			if (!IsDeleted(vs, cur[i]))
				continue;
			nhop = vs->src.links(&vs->src, cur[i], level, hop);
			for (int j = 0; j < nhop; j++)
				if (!IsDeleted(vs, hop[j]) && HnswVisitedAdd(&seen, hop[j]))
					ids[nids++] = hop[j];
		}

		cands = palloc_array(HnswCand, nids + st->ef_construction + 1);
		for (int i = 0; i < nids; i += 2 * HNSW_MAX_M)
		{
			int			n = Min(2 * HNSW_MAX_M, nids - i);

			vs->src.score(&vs->src, vs->basequery, ids + i, n, cands + i);
		}
		/*
		 * A flagged node's list is not kept up to date: a member may be a
		 * slot freed and taken since by a node without this level.
		 */
		for (int i = 0; i < nids; i++)
			if (!cands[i].deleted && HnswCandOnLevel(&cands[i], level))
				cands[ncand++] = cands[i];
		/*
		 * Always search from the entry point too, as an insert would: the
		 * one-hop candidates only know the old neighbourhood.  Rows that
		 * arrived since the node was inserted (a dense cluster of updates
		 * next to it) are found only so, and the back-links below then give
		 * them a way back to the node; without it, 36 of 20,611 rows were
		 * not found by their own vectors at ef_search 200 after issue 20's
		 * workload (213 at 40), with it none (4 at 40), where pgvector
		 * 0.8.0 missed none (67 at 40).  On the upper levels the search also
		 * restores the long links a greedy descent needs.  On layer 0 the
		 * beam is the list's length (2m), not ef_construction: the search
		 * only has to bring the few new rows nearer than the old
		 * neighbourhood, and it is where VACUUM spends its time.  On
		 * bench/soak.py (m 16) VACUUM took 5.9 s a round instead of 9.2
		 * (medians of 9 rounds, interleaved), recall@10 at ef_search 40
		 * 0.984-0.988 against 0.987-0.990; on test/t/048's workload (9 runs
		 * each) the deep check at ef 200 missed 0 or 1 row of 10,200 either
		 * way, at ef 40 a median of 4 rows against 2.
		 */
		{
			int			ef = level == 0 ? maxlinks : st->ef_construction;
			HnswCand   *found = palloc_array(HnswCand, ef + 1);
			int			nfound = searchCandidates(vs, id, level, found, ef);

			for (int i = 0; i < nfound; i++)
				if (HnswVisitedAdd(&seen, found[i].id))
					cands[ncand++] = found[i];
		}
		HnswSortCands(cands, ncand, id);
		/* the nearest few are enough for the heuristic to pick from */
		ncand = Min(ncand, Max(st->ef_construction, maxlinks));
		itemptr = palloc_array(const char *, Max(ncand, 1));
		vs->items = repalloc(vs->items, st->item_max * Max(ncand, 1));
		for (int i = 0; i < ncand; i++)
			itemptr[i] = HnswSourceItem(&vs->src, cands[i].id, vs->items + st->item_max * i);
		nkept = HnswSelectNeighbours(st, cands, ncand, itemptr, maxlinks, maxlinks, kept);

		/*
		 * Keep every live member: dropping one could take away its last way
		 * in.  The new candidates only fill the slots the deleted ones held,
		 * except that a deleted member farther than every candidate (a long
		 * link into another cluster, which the search around the node does
		 * not see) first hands its slot to its own nearest live neighbour,
		 * so that the long link survives.  Without that, after deleting half
		 * of 100 tight clusters and VACUUM, whole clusters could no longer
		 * be entered, and rows then inserted into them linked only to each
		 * other: 83 of 10,000 rows not found by their own vectors at ef 100,
		 * recall@10 0.984 in test/t/010_hnsw_recall.pl.
		 */
		{
			uint32		merged[2 * HNSW_MAX_M];
			int			nmerged = 0;
			uint32		dead[2 * HNSW_MAX_M];
			int			ndead = 0;
			HnswCand	deadc[2 * HNSW_MAX_M];
			char	   *deadbuf = NULL;

			for (int i = 0; i < ncur; i++)
			{
				if (!IsDeleted(vs, cur[i]))
					merged[nmerged++] = cur[i];
				else
					dead[ndead++] = cur[i];
			}
			if (ncand > 0)
				vs->src.score(&vs->src, vs->basequery, dead, ndead, deadc);
			for (int i = 0; i < ndead && ncand > 0 && nmerged < maxlinks; i++)
			{
				uint32		hop[2 * HNSW_MAX_M];
				int			nhops;
				uint32		live[2 * HNSW_MAX_M];
				int			nlive = 0;
				HnswCand	livec[2 * HNSW_MAX_M];
				int			best = -1;

				if (deadc[i].dist <= cands[ncand - 1].dist)
					continue;
				nhops = vs->src.links(&vs->src, dead[i], level, hop);
				for (int j = 0; j < nhops; j++)
					if (hop[j] != id && !IsDeleted(vs, hop[j]) &&
						!HnswHasLink(merged, nmerged, hop[j]))
						live[nlive++] = hop[j];
				if (nlive == 0)
					continue;
				if (deadbuf == NULL)
					deadbuf = palloc(st->item_max);
				vs->src.score(&vs->src,
							  HnswItemQuery(st, HnswSourceItem(&vs->src, dead[i], deadbuf),
											vs->qbuf2),
							  live, nlive, livec);
				for (int j = 0; j < nlive; j++)
					if (!livec[j].deleted && HnswCandOnLevel(&livec[j], level) &&
						(best < 0 || HnswCandCompare(&livec[j], &livec[best]) < 0))
						best = j;
				if (best >= 0)
					merged[nmerged++] = livec[best].id;
			}
			for (int i = 0; i < nkept && nmerged < maxlinks; i++)
				if (!HnswHasLink(merged, nmerged, kept[i]))
					merged[nmerged++] = kept[i];
			memcpy(kept, merged, sizeof(uint32) * nmerged);
			nkept = nmerged;
		}
		if (HnswReplaceList(st, id, level, cur, ncur, kept, nkept))
		{
			HnswSourceWrote(&vs->src, id, level, kept, nkept);

			/*
			 * Links into the node may have come from deleted nodes: link
			 * back from its new neighbours, as an insert does, so that it
			 * does not drop out of reach.
			 */
			for (int i = 0; i < nkept; i++)
				if (!HnswHasLink(cur, ncur, kept[i]))
					HnswAddBackLink(st, &vs->src, kept[i], id, level, vs->baseitem, false, NULL);
			return;
		}
		HnswSourceStale(&vs->src, id, level);
	}
}

/* Pass 2: repair every list of every live node that holds a deleted node. */
static void
repairGraph(HnswVacuumState *vs, MemoryContext tmp)
{
	HnswState  *st = &vs->st;
	HnswPageIter it = {0};
	BlockNumber blk;
	uint32		first;
	uint32		nslots;

	(void) HnswVacCacheLoad(vs);

	/*
	 * Only the nodes there were at the start: node_count (and so the walk)
	 * grows as searches meet newer nodes, and those are left to the next
	 * VACUUM, like everything inserted after the start.
	 */
	while (HnswNextNodePage(st, &it, &blk, &first, &nslots) && first < vs->nbits)
	{
		uint32		n = Min(nslots, vs->nbits - first);
		uint32		nlive = 0;

		/*
		 * The page once: the level and item (or item reference) of each
		 * live node on it, copied out, so that the list repairs, which lock
		 * other pages, run with this one let go.
		 */
		if (n > vs->page_cap)
		{
			vs->page_cap = n;
			vs->page_ids = repalloc(vs->page_ids, sizeof(uint32) * n);
			vs->page_levels = repalloc(vs->page_levels, sizeof(int) * n);
			vs->page_items = repalloc_huge(vs->page_items, (Size) st->item_size * n);
		}
		{
			Buffer		buf = ReadBufferExtended(st->index, MAIN_FORKNUM, blk, RBM_NORMAL,
												 vs->strategy);

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
			for (uint32 s = 0; s < n; s++)
			{
				HnswNode	node;

				if (IsDeleted(vs, first + s))
					continue;
				node = HnswPageNode(BufferGetPage(buf), st, s);
				/* a freed slot has no lists, and its item went with it */
				if (node->flags & HNSW_NODE_FREE)
					continue;
				vs->page_ids[nlive] = first + s;
				vs->page_levels[nlive] = node->level;
				/* with out-of-line items, the reference (item_size is its size) */
				memcpy(vs->page_items + (Size) st->item_size * nlive, HnswNodeItem(node),
					   st->item_size);
				nlive++;
			}
			UnlockReleaseBuffer(buf);
		}
		for (uint32 i = 0; i < nlive; i++)
		{
			uint32		id = vs->page_ids[i];
			const char *stored = vs->page_items + (Size) st->item_size * i;
			MemoryContext old = MemoryContextSwitchTo(tmp);

			if (st->item_refs)
			{
				HnswItemRef ref;

				memcpy(&ref, stored, sizeof(HnswItemRef));
				HnswReadItemRef(st, id, &ref, vs->baseitem);
			}
			else if (st->bits != 0)
				HnswDecode(st, stored, (float *) vs->baseitem);
			else
				memcpy(vs->baseitem, stored, st->item_size);
			vs->basequery = HnswItemQuery(st, vs->baseitem, vs->qbuf);
			for (int l = vs->page_levels[i]; l >= 0; l--)
				repairList(vs, id, l);
			MemoryContextSwitchTo(old);
			MemoryContextReset(tmp);
		}
		VecVacuumDelayPoint();
	}
	HnswVacCacheRelease(vs);
}

/* Pass 3: a deleted entry point gives way to the highest live node. */
static void
moveEntryPoint(HnswVacuumState *vs)
{
	HnswState  *st = &vs->st;
	Buffer		metabuf = ReadBuffer(st->index, HNSW_METAPAGE_BLKNO);
	HnswMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = HnswPageGetMeta(BufferGetPage(metabuf));
	if (meta->entry_id != HNSW_NO_NODE && IsDeleted(vs, meta->entry_id))
	{
		GenericXLogState *xlog;
		uint32		entry = vs->best;
		int			level = vs->best_level;

		/*
		 * Every node we saw is deleted, but inserts may have added nodes
		 * since: the newest one can serve (the metapage lock keeps more
		 * from arriving; taking its node page after it is the lock order).
		 */
		if (entry == HNSW_NO_NODE && meta->node_count > vs->nbits)
		{
			BlockNumber blk;
			int			slot;
			Buffer		buf;

			HnswCopySnapshot(st, meta);
			entry = meta->node_count - 1;
			if (!HnswFindNode(st, entry, &blk, &slot))
				elog(ERROR, "hnsw node %u has no page", entry);
			buf = ReadBuffer(st->index, blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			HnswCheckPage(st->index, BufferGetPage(buf), blk, HNSW_PAGE_NODE);
			level = HnswPageNode(BufferGetPage(buf), st, slot)->level;
			UnlockReleaseBuffer(buf);
		}
		xlog = VecXLogStart(st->index);
		meta = HnswPageGetMeta(GenericXLogRegisterBuffer(xlog, metabuf, 0));
		meta->entry_id = entry;
		meta->entry_level = entry == HNSW_NO_NODE ? -1 : level;
		GenericXLogFinish(xlog);
	}
	UnlockReleaseBuffer(metabuf);
}

IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "Hnsw vacuum context",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext tmp = AllocSetContextCreate(cxt, "Hnsw vacuum temporary context",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HnswVacuumState *vs = palloc0(sizeof(HnswVacuumState));

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) MemoryContextAllocZero(old, sizeof(IndexBulkDeleteResult));
	else
		stats->num_index_tuples = 0;

	HnswInitState(&vs->st, info->index);
	HnswLoadMeta(&vs->st);
	HnswDiskSourceInit(&vs->src, &vs->st);
	vs->nbits = vs->st.node_count;
	vs->deleted = palloc_extended(vs->nbits / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	vs->best = HNSW_NO_NODE;
	vs->best_level = -1;
	vs->baseitem = palloc(vs->st.item_max);
	vs->qbuf = HnswQueryAlloc(&vs->st);
	vs->qbuf2 = HnswQueryAlloc(&vs->st);
	vs->items = palloc(vs->st.item_max);
	vs->strategy = info->strategy;
	vs->heads_cap = 64;
	vs->heads = palloc_array(uint32, vs->heads_cap);
	vs->page_cap = 16;
	vs->page_ids = palloc_array(uint32, vs->page_cap);
	vs->page_levels = palloc_array(int, vs->page_cap);
	vs->page_items = palloc((Size) vs->st.item_size * vs->page_cap);

	markDeleted(vs, stats, callback, callback_state);
	HnswUnlinkDeadMembers(vs);
	if (vs->npromoted > 0)
		ereport(DEBUG1,
				(errmsg("index \"%s\": %u dead duplicate chain heads took a member's row",
						RelationGetRelationName(info->index), vs->npromoted)));
	if (vs->ndeleted > 0)
	{
		repairGraph(vs, tmp);
		moveEntryPoint(vs);
	}
	(void) HnswRepairReachability(&vs->st, &vs->src, tmp, info->strategy);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return stats;
}

/*
 * When no bulk delete ran (e.g. VACUUM of an insert-only table): repair
 * reachability, and count the live nodes on the way.
 */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	HnswState	st;

	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext,
												  "Hnsw vacuum temporary context",
												  ALLOCSET_DEFAULT_SIZES);
		HnswSource	src;

		stats = palloc0(sizeof(IndexBulkDeleteResult));
		HnswInitState(&st, info->index);
		HnswDiskSourceInit(&src, &st);
		stats->num_index_tuples = HnswRepairReachability(&st, &src, tmp, info->strategy);
		MemoryContextDelete(tmp);
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->estimated_count = false;
	return stats;
}
