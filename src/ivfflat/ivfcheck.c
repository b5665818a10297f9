/*
 * ivfcheck.c
 *	  The ivfflat part of vector_index_check(): the metapage and directory,
 *	  every list's chain of pages (types, bounds, no page in two chains or
 *	  twice in one), the records' heap TIDs, and list pages no chain reaches.
 */
#include "compat.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "ivfflat.h"

void
IvfCheckIndex(Relation index, VecCheck *c)
{
	IvfState	st;
	IvfCache   *cache;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	uint8	   *seen = palloc0(nblocks + 1);
	BlockNumber first_list_page;

	IvfInitState(&st, index);
	IvfLoadCache(&st);
	cache = st.cache;
	first_list_page = cache->dir_start +
		(cache->nlists + cache->entries_per_page - 1) / cache->entries_per_page;

	for (uint32 list = 0; list < cache->nlists; list++)
	{
		BlockNumber room;
		BlockNumber blk = IvfReadTail(&st, list, &room);
		bool		room_found = (room == 0);

		if (!BlockNumberIsValid(blk))
			VecCheckProblem(c, "list %u has no pages", list);
		while (BlockNumberIsValid(blk))
		{
			Buffer		buf;
			Page		page;
			int			lower;
			int			n;

			CHECK_FOR_INTERRUPTS();
			if (blk >= nblocks || blk < first_list_page)
			{
				VecCheckProblem(c, "list %u reaches block %u, which cannot be a list page", list, blk);
				break;
			}
			if (seen[blk])
			{
				VecCheckProblem(c, "list %u reaches block %u a second time", list, blk);
				break;
			}
			seen[blk] = 1;
			room_found |= (blk == room);
			buf = ReadBuffer(index, blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			if (!IvfPageIs(page, IVF_PAGE_LIST))
			{
				VecCheckProblem(c, "list %u reaches block %u, which is not a list page", list, blk);
				UnlockReleaseBuffer(buf);
				break;
			}
			lower = ((PageHeader) page)->pd_lower;
			n = IvfPageCount(page, cache->rec_size);
			if (lower < IVF_REC_START || (lower - IVF_REC_START) % cache->rec_size != 0 ||
				n > cache->recs_per_page)
				VecCheckProblem(c, "list page %u ends its records at %d, not at a record boundary within the page",
								blk, lower);
			for (int i = 0; i < Min(n, cache->recs_per_page); i++)
			{
				ItemPointer tid = &IvfPageRec(page, cache->rec_size, i)->heaptid;

				if (!ItemPointerIsValid(tid) ||
					ItemPointerGetBlockNumberNoCheck(tid) >= c->heap_blocks)
					VecCheckProblem(c, "list page %u record %d points to heap tuple (%u,%u), outside the table",
									blk, i, ItemPointerGetBlockNumberNoCheck(tid),
									ItemPointerGetOffsetNumberNoCheck(tid));
			}
			blk = IvfPageGetOpaque(page)->prev;
			UnlockReleaseBuffer(buf);
		}
		/* an insert would put a row of this list on another list's page */
		if (!room_found)
			VecCheckProblem(c, "list %u's free-space hint names block %u, which is not in its chain",
							list, room);
	}

	/* list pages that no chain reaches hold rows no scan can find */
	for (BlockNumber blk = first_list_page; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		if (seen[blk])
			continue;
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (IvfPageIs(page, IVF_PAGE_LIST) &&
			IvfPageCount(page, cache->rec_size) > 0)
			VecCheckProblem(c, "list page %u with %d records is in no list", blk,
							IvfPageCount(page, cache->rec_size));
		UnlockReleaseBuffer(buf);
	}
}
