/*
 * hnswbuf.c
 *	  Pinning index pages through a per-backend cache of buffer hints.  It
 *	  sits below everything else that reads hnsw pages (the metapage and
 *	  node geometry in hnswpage.c, graph access in hnswdisk.c, inserts,
 *	  VACUUM and the check), so that those files need not call each other
 *	  to reach it.
 */
#include "compat.h"

#include "storage/buf_internals.h"
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

/*
 * Where blk's page lies in shared buffers, if this backend has a hint for
 * it: NULL otherwise.  A stale hint gives another page's memory, which is
 * harmless to prefetch.  *desc is the buffer's header.
 */
static char *
hintedPage(Relation index, BlockNumber blk, void **desc)
{
#ifdef VEC_HAVE_RECENT_BUFFER
	HnswBufHints *h = (HnswBufHints *) index->rd_amcache;
	Buffer		buf;

	if (h == NULL || blk >= h->nblocks)
		return NULL;
	buf = h->bufs[blk];
	if (buf <= 0 || buf > NBuffers)
		return NULL;
	*desc = GetBufferDescriptor(buf - 1);
	return (char *) BufferGetBlock(buf);
#else
	return NULL;
#endif
}

/*
 * Start loading what pinning and checking blk's page will touch: the
 * buffer header (the pin's atomic), the page header and the special space
 * (HnswCheckPage).  Returns where the page probably is, for the caller to
 * prefetch the bytes it will read (HnswPrefetchBytes), or NULL.  A walk
 * reads pages in no order the hardware can guess, so each of these was a
 * cache miss in a row: most of diskScore's time on sift-128 at 4 bits went
 * to the first compare of the page check and to the pin.
 */
char *
HnswPrefetchPage(Relation index, BlockNumber blk)
{
	void	   *desc;
	char	   *page = hintedPage(index, blk, &desc);

	if (page == NULL)
		return NULL;
	__builtin_prefetch(desc);
	__builtin_prefetch(page);
	__builtin_prefetch(page + BLCKSZ - 64);
	return page;
}
