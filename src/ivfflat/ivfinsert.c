/*
 * ivfinsert.c
 *	  aminsert: append the row to the newest page of its nearest list.
 *
 * Locking: the newest page (the directory's tail) is locked exclusively
 * and takes the record when it has room.  When it is full, the inserter
 * locks the list's directory page exclusively, checks that the tail is
 * still the same page, and chains a new page in front of it; both pages go
 * into one GenericXLog record.  Order: directory page, then list page;
 * nobody waits for a directory page while holding a list page.
 *
 * Before that, a full tail sends the row to the page VACUUM found with
 * free slots (the directory entry's room), or, when that one has filled,
 * to the next older page with free slots along the chain; the hint then
 * moves there (or to 0 at the chain's end).  Pages never change list, so a
 * hint, however stale, names a page of this list.
 */
#include "compat.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "ivfflat.h"

/*
 * Put the row on the page room or an older one of the list with a free
 * slot; false when none has.  Moves the list's hint to the page used.
 */
static bool
insertIntoRoom(IvfState *st, uint32 list, BlockNumber room, ItemPointer tid,
			   const void *item)
{
	IvfCache   *c = st->cache;
	Relation	index = st->index;
	BlockNumber nblocks = 0;
	BlockNumber blk = room;
	uint32		steps = 0;

	while (BlockNumberIsValid(blk))
	{
		Buffer		buf;
		BlockNumber prev;

		CHECK_FOR_INTERRUPTS();
		IvfCheckBlock(index, blk, &nblocks);
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		IvfCheckListPage(index, BufferGetPage(buf), blk, steps++);
		if (IvfPageCount(BufferGetPage(buf), c->rec_size) < c->recs_per_page)
		{
			GenericXLogState *xlog = VecXLogStart(index);
			Page		page = GenericXLogRegisterBuffer(xlog, buf, 0);

			IvfPageAppend(page, c->rec_size, c->recs_per_page, tid, item, c->item_size);
			GenericXLogFinish(xlog);
			UnlockReleaseBuffer(buf);
			if (blk != room)
				IvfSetRoom(st, list, room, blk);
			return true;
		}
		prev = IvfPageGetOpaque(BufferGetPage(buf))->prev;
		UnlockReleaseBuffer(buf);
		blk = prev;
	}
	IvfSetRoom(st, list, room, 0);
	return false;
}

static void
insertIntoList(IvfState *st, uint32 list, ItemPointer tid, const void *item)
{
	IvfCache   *c = st->cache;
	Relation	index = st->index;

	for (;;)
	{
		BlockNumber room;
		BlockNumber tail = IvfReadTail(st, list, &room);
		BlockNumber nblocks = 0;
		BlockNumber dblk;
		Size		off;
		Buffer		buf;
		Buffer		dbuf;
		Buffer		nbuf;
		Page		page;
		Page		npage;
		GenericXLogState *xlog;

		if (tail == InvalidBlockNumber)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" list %u has no pages", RelationGetRelationName(index), list),
					 errhint("REINDEX the index.")));
		IvfCheckBlock(index, tail, &nblocks);
		buf = ReadBuffer(index, tail);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		IvfCheckListPage(index, BufferGetPage(buf), tail, 0);
		if (IvfPageCount(BufferGetPage(buf), c->rec_size) < c->recs_per_page)
		{
			xlog = VecXLogStart(index);
			page = GenericXLogRegisterBuffer(xlog, buf, 0);
			IvfPageAppend(page, c->rec_size, c->recs_per_page, tid, item, c->item_size);
			GenericXLogFinish(xlog);
			UnlockReleaseBuffer(buf);
			return;
		}
		UnlockReleaseBuffer(buf);

		/* full: a page VACUUM left room on, else a new page */
		if (room != 0 && room != tail)
		{
			if (insertIntoRoom(st, list, room, tid, item))
				return;
			continue;
		}

		/* chain a new page, unless someone else just did */
		IvfDirLocate(c, list, &dblk, &off);
		dbuf = ReadBuffer(index, dblk);
		LockBuffer(dbuf, BUFFER_LOCK_EXCLUSIVE);
		if (((IvfDirEntryData *) ((char *) BufferGetPage(dbuf) + off))->tail != tail)
		{
			UnlockReleaseBuffer(dbuf);
			continue;
		}
		nbuf = VecIndexNewBuffer(index, MAIN_FORKNUM);
		xlog = VecXLogStart(index);
		page = GenericXLogRegisterBuffer(xlog, dbuf, 0);
		npage = GenericXLogRegisterBuffer(xlog, nbuf, GENERIC_XLOG_FULL_IMAGE);
		IvfInitPage(npage, IVF_PAGE_LIST);
		IvfPageGetOpaque(npage)->prev = tail;
		IvfPageAppend(npage, c->rec_size, c->recs_per_page, tid, item, c->item_size);
		((IvfDirEntryData *) ((char *) page + off))->tail = BufferGetBlockNumber(nbuf);
		GenericXLogFinish(xlog);
		UnlockReleaseBuffer(nbuf);
		UnlockReleaseBuffer(dbuf);
		return;
	}
}

bool
ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		  Relation heap, IndexUniqueCheck checkUnique VEC_AMINSERT_UNCHANGED_ARG,
		  IndexInfo *indexInfo)
{
	IvfState	st;
	MemoryContext tmp;
	MemoryContext old;
	char	   *item;

	if (isnull[0])
		return false;

	tmp = AllocSetContextCreate(CurrentMemoryContext, "Ivfflat insert temporary context",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(tmp);
	IvfInitState(&st, index);
	item = palloc0(st.item_size);
	if (VecIndexValueToItem(st.ops, st.metric, st.dim, values[0], item))
	{
		float	   *dists;

		IvfLoadCache(&st);
		dists = palloc_array(float, st.cache->nlists);
		insertIntoList(&st, IvfNearestList(&st, item, dists), heap_tid, item);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	return false;
}
