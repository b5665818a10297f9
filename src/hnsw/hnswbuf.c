/*
 * hnswbuf.c
 *	  Pinning index pages through a per-backend cache of buffer hints.  It
 *	  sits below everything else that reads hnsw pages (the metapage and
 *	  node geometry in hnswpage.c, graph access in hnswdisk.c, inserts,
 *	  VACUUM and the check), so that those files need not call each other
 *	  to reach it.
 */
#include "compat.h"

#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

/*
 * Where this backend last found each index page in shared buffers, kept in
 * rd_amcache (so a relcache flush drops it).  ReadRecentBuffer pins the
 * hinted buffer after checking its tag, without the buffer mapping table's
 * partition lock and hash lookup, which were a sixth of a scan's time on
 * sift-128.  A stale hint costs one failed tag check.  Indexes of more than
 * HNSW_HINT_MAX_BLOCKS pages keep hints for their first pages only.
 */
typedef struct HnswBufHints
{
	BlockNumber nblocks;
	Buffer		bufs[FLEXIBLE_ARRAY_MEMBER];
} HnswBufHints;

#define HNSW_HINT_MAX_BLOCKS	(BlockNumber) (4 << 20)	/* 32 GB of index */

Buffer
HnswReadBuffer(Relation index, BlockNumber blk)
{
#ifdef VEC_HAVE_RECENT_BUFFER
	HnswBufHints *h = (HnswBufHints *) index->rd_amcache;
	Buffer		buf;

	if (h != NULL && blk < h->nblocks)
	{
		buf = h->bufs[blk];
		if (buf != InvalidBuffer && VecReadRecentBuffer(index, blk, buf))
			return buf;
	}
	else if (blk < HNSW_HINT_MAX_BLOCKS)
	{
		BlockNumber n = Max(h ? h->nblocks : 0, 1024);
		HnswBufHints *grown;

		while (n <= blk)
			n *= 2;
		n = Min(n, HNSW_HINT_MAX_BLOCKS);
		grown = MemoryContextAllocExtended(index->rd_indexcxt,
										   offsetof(HnswBufHints, bufs) + sizeof(Buffer) * n,
										   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		grown->nblocks = n;
		if (h != NULL)
		{
			memcpy(grown->bufs, h->bufs, sizeof(Buffer) * h->nblocks);
			pfree(h);
		}
		index->rd_amcache = h = grown;
	}
	buf = ReadBuffer(index, blk);
	if (h != NULL && blk < h->nblocks)
		h->bufs[blk] = buf;
	return buf;
#else
	return ReadBuffer(index, blk);
#endif
}
