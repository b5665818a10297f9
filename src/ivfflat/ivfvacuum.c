/*
 * ivfvacuum.c
 *	  VACUUM: remove the records of dead heap rows.
 *
 * Each list is walked from its newest page back; on each page with dead
 * records, the last record moves into each dead one's slot (one WAL record
 * per changed page).  Records never move between pages, so a concurrent
 * scan, which reads a page whole under its share lock, sees every live row
 * once; inserts add at the newest page under its exclusive lock.  The
 * newest page behind the tail that has free slots afterwards goes into the
 * list's directory entry (room), where inserts look when the tail is full
 * before they chain a new page: an index whose rows are deleted and
 * inserted again keeps its size.
 */
#include "compat.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "ivfflat.h"

IndexBulkDeleteResult *
ivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	IvfState	st;
	IvfCache   *c;
	bool	   *dead;
	BlockNumber nblocks;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	IvfInitState(&st, index);
	IvfLoadCache(&st);
	c = st.cache;
	dead = palloc_array(bool, c->recs_per_page);
	nblocks = 0;

	for (uint32 list = 0; list < c->nlists; list++)
	{
		BlockNumber room_was;
		BlockNumber blk = IvfReadTail(&st, list, &room_was);
		BlockNumber room = 0;
		uint32		steps = 0;

		while (BlockNumberIsValid(blk))
		{
			Buffer		buf;
			Page		page;
			int			n;
			int			ndead = 0;

			VecVacuumDelayPoint();
			IvfCheckBlock(index, blk, &nblocks);
			buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			IvfCheckListPage(index, page, blk, steps++);
			n = Min(IvfPageCount(page, c->rec_size), c->recs_per_page);
			for (int i = 0; i < n; i++)
			{
				dead[i] = callback(&IvfPageRec(page, c->rec_size, i)->heaptid, callback_state);
				ndead += dead[i];
			}
			if (ndead > 0)
			{
				GenericXLogState *xlog = VecXLogStart(index);

				page = GenericXLogRegisterBuffer(xlog, buf, 0);
				/* downwards: the record moved in was already found alive */
				for (int i = n - 1; i >= 0; i--)
				{
					if (!dead[i])
						continue;
					if (i != n - 1)
						memcpy(IvfPageRec(page, c->rec_size, i),
							   IvfPageRec(page, c->rec_size, n - 1), c->rec_size);
					n--;
				}
				((PageHeader) page)->pd_lower = IVF_REC_START + c->rec_size * n;
				GenericXLogFinish(xlog);
				/* the image registered in xlog is freed: read the buffer */
				page = BufferGetPage(buf);
				stats->tuples_removed += ndead;
			}
			stats->num_index_tuples += n;
			/* the newest page behind the tail with free slots */
			if (steps > 1 && room == 0 && n < c->recs_per_page)
				room = blk;
			blk = IvfPageGetOpaque(page)->prev;
			UnlockReleaseBuffer(buf);
		}
		if (room != room_was)
			IvfSetRoom(&st, list, room_was, room);
	}
	pfree(dead);
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}

IndexBulkDeleteResult *
ivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	BlockNumber nblocks;

	if (info->analyze_only)
		return stats;
	nblocks = RelationGetNumberOfBlocks(index);
	if (stats == NULL)
	{
		IvfState	st;

		/* no bulk delete ran: count the records, one pass in block order */
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		IvfInitState(&st, index);
		IvfLoadCache(&st);
		for (BlockNumber blk = IVF_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
		{
			Buffer		buf;
			Page		page;

			VecVacuumDelayPoint();
			buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			if (IvfPageIs(page, IVF_PAGE_LIST))
				stats->num_index_tuples += IvfPageCount(page, st.cache->rec_size);
			UnlockReleaseBuffer(buf);
		}
	}
	stats->num_pages = nblocks;
	return stats;
}
