/*
 * ivfbuild.c
 *	  CREATE INDEX: sample, k-means, then one pass that appends every row to
 *	  its list.
 *
 * 1. A heap scan draws a reservoir sample (at most IVF_SAMPLES_PER_LIST rows
 *    a list, and no more than a quarter of maintenance_work_mem).
 * 2. k-means (ivfkmeans.c) turns the sample into the centroids; the
 *    metapage, the directory and one empty page per list are written.
 * 3. A second heap scan assigns each row to its nearest centroid and
 *    appends it to that list's newest page through the buffer manager,
 *    chaining a new page when it is full.  With parallel workers, the leader
 *    and each worker scan a share of the heap and append to the same lists;
 *    the newest page of each list is an atomic in shared memory, changed
 *    only by whoever holds that page's exclusive lock.
 * 4. The directory gets each list's newest page, and the whole relation is
 *    WAL-logged in one sequential pass (log_newpage_range).
 */
#include "compat.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "ivfflat.h"
#include "kernels.h"

#define IVF_SAMPLES_PER_LIST	64
#define IVF_KMEANS_SEED			UINT64CONST(0x49564646)

#define IVF_KEY_SHARED		UINT64CONST(0xA100000000000001)
#define IVF_KEY_SCAN		UINT64CONST(0xA100000000000002)
#define IVF_KEY_CENTROIDS	UINT64CONST(0xA100000000000003)

/* Shared state of a parallel load. */
typedef struct IvfShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	uint32		nlists;
	slock_t		mutex;
	double		reltuples;
	double		indtuples;
	pg_atomic_uint32 tails[FLEXIBLE_ARRAY_MEMBER];
} IvfShared;

typedef struct IvfBuildState
{
	IvfState	st;
	IvfCache	cache;
	Relation	heap;
	double		reltuples;
	double		indtuples;

	/* sampling */
	char	   *sample;			/* maxsample items */
	int			nsample;
	int			maxsample;
	double		seen;
	pg_prng_state prng;

	/* loading */
	pg_atomic_uint32 *tails;	/* newest page of each list */
	IvfShared  *shared;			/* parallel load, else NULL */
	float	   *dists;
	char	   *itembuf;
	MemoryContext tmpCtx;
} IvfBuildState;

/* ---------------------------------------------------------------- sample */

/* Detoast, check and convert a row to a stored item; false to skip it. */
static bool
rowItem(IvfState *st, Datum *values, bool *isnull, void *dst)
{

	if (isnull[0])
		return false;
	return VecIndexValueToItem(st->ops, st->metric, st->dim, values[0], dst);
}

static void
sampleCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	IvfBuildState *bs = (IvfBuildState *) state;
	MemoryContext old = MemoryContextSwitchTo(bs->tmpCtx);

	if (rowItem(&bs->st, values, isnull, bs->itembuf))
	{
		int			slot = -1;

		/* reservoir sampling (Algorithm R) */
		if (bs->nsample < bs->maxsample)
			slot = bs->nsample++;
		else
		{
			uint64		r = pg_prng_uint64_range(&bs->prng, 0, (uint64) bs->seen);

			if (r < (uint64) bs->maxsample)
				slot = (int) r;
		}
		if (slot >= 0)
			memcpy(bs->sample + bs->st.item_size * slot, bs->itembuf, bs->st.item_size);
		bs->seen++;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

/* ---------------------------------------------------------------- layout */

/*
 * Write the metapage and the directory (with no pages yet) at the start of
 * fork.  centroids: nlists stored items.  For the init fork each page is
 * WAL-logged here; the main fork is logged whole at the end of the build.
 */
static void
writeMetaAndDirectory(IvfState *st, IvfCache *c, ForkNumber fork)
{
	Relation	index = st->index;
	Buffer		buf;
	Page		page;
	IvfMetaPage meta;
	uint32		dir_pages = (c->nlists + c->entries_per_page - 1) / c->entries_per_page;

	buf = VecIndexNewBuffer(index, fork);
	Assert(BufferGetBlockNumber(buf) == IVF_METAPAGE_BLKNO);
	page = BufferGetPage(buf);
	IvfInitPage(page, IVF_PAGE_META);
	meta = IvfPageGetMeta(page);
	meta->magic = IVF_MAGIC;
	meta->version = IVF_FORMAT_VERSION;
	meta->dim = c->dim;
	meta->nlists = c->nlists;
	meta->metric = st->metric;
	meta->unused = 0;
	meta->item_size = c->item_size;
	meta->rec_size = c->rec_size;
	meta->recs_per_page = c->recs_per_page;
	meta->entry_size = c->entry_size;
	meta->entries_per_page = c->entries_per_page;
	meta->dir_start = IVF_METAPAGE_BLKNO + 1;
	meta->dir_pages = dir_pages;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(IvfMetaPageData)) - (char *) page;
	MarkBufferDirty(buf);
	if (fork == INIT_FORKNUM)
		log_newpage_buffer(buf, true);
	UnlockReleaseBuffer(buf);

	for (uint32 p = 0; p < dir_pages; p++)
	{
		uint32		first = p * c->entries_per_page;
		uint32		n = Min((uint32) c->entries_per_page, c->nlists - first);

		buf = VecIndexNewBuffer(index, fork);
		Assert(BufferGetBlockNumber(buf) == c->dir_start + p);
		page = BufferGetPage(buf);
		IvfInitPage(page, IVF_PAGE_DIR);
		for (uint32 i = 0; i < n; i++)
		{
			IvfDirEntryData *e = (IvfDirEntryData *) ((char *) page + IVF_REC_START + c->entry_size * i);

			e->tail = InvalidBlockNumber;
			e->room = 0;
			memcpy(IvfDirEntryCentroid(e), c->centroids + c->item_size * (first + i), c->item_size);
		}
		((PageHeader) page)->pd_lower = IVF_REC_START + c->entry_size * n;
		MarkBufferDirty(buf);
		if (fork == INIT_FORKNUM)
			log_newpage_buffer(buf, true);
		UnlockReleaseBuffer(buf);
	}
}

/* Geometry of an index of nlists lists into c (centroids not set). */
static void
initCache(IvfState *st, IvfCache *c, uint32 nlists)
{
	c->nlists = nlists;
	c->dim = st->dim;
	c->item_size = st->item_size;
	c->rec_size = IvfRecSize(st->item_size);
	c->recs_per_page = IvfRecsPerPage(c->rec_size);
	c->entry_size = IvfEntrySize(st->item_size);
	c->entries_per_page = IvfEntriesPerPage(c->entry_size);
	c->dir_start = IVF_METAPAGE_BLKNO + 1;
	c->centroids = palloc_extended(c->item_size * nlists, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	c->centroid_ptrs = palloc_array(const void *, nlists);
	c->centroid_norms = palloc0_array(float, nlists);
	for (uint32 i = 0; i < nlists; i++)
		c->centroid_ptrs[i] = c->centroids + c->item_size * i;
}

/* ---------------------------------------------------------------- load */

/*
 * Append a row to its list's newest page, or to a new page chained after
 * it.  The newest page only changes under its own exclusive lock, so a
 * participant that finds it changed after locking just tries again.
 */
static void
appendRow(IvfBuildState *bs, uint32 list, ItemPointer tid, const void *item)
{
	IvfCache   *c = &bs->cache;
	Relation	index = bs->st.index;

	for (;;)
	{
		BlockNumber tail = pg_atomic_read_u32(&bs->tails[list]);
		Buffer		buf = ReadBuffer(index, tail);
		Buffer		nbuf;
		Page		npage;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (pg_atomic_read_u32(&bs->tails[list]) != tail)
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		if (IvfPageAppend(BufferGetPage(buf), c->rec_size, c->recs_per_page, tid, item,
						  c->item_size))
		{
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
			return;
		}
		nbuf = VecIndexNewBuffer(index, MAIN_FORKNUM);
		npage = BufferGetPage(nbuf);
		IvfInitPage(npage, IVF_PAGE_LIST);
		IvfPageGetOpaque(npage)->prev = tail;
		IvfPageAppend(npage, c->rec_size, c->recs_per_page, tid, item, c->item_size);
		MarkBufferDirty(nbuf);
		pg_atomic_write_u32(&bs->tails[list], BufferGetBlockNumber(nbuf));
		UnlockReleaseBuffer(nbuf);
		UnlockReleaseBuffer(buf);
		return;
	}
}

static void
loadCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			 bool tupleIsAlive, void *state)
{
	IvfBuildState *bs = (IvfBuildState *) state;
	MemoryContext old = MemoryContextSwitchTo(bs->tmpCtx);

	bs->reltuples++;
	if (rowItem(&bs->st, values, isnull, bs->itembuf))
	{
		uint32		list = IvfNearestList(&bs->st, bs->itembuf, bs->dists);

		appendRow(bs, list, tid, bs->itembuf);
		bs->indtuples++;
		if (((uint64) bs->indtuples & 255) == 0 && !IsParallelWorker())
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
										 (int64) (bs->shared ? bs->indtuples * 2 : bs->indtuples));
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
}

static void
initLoader(IvfBuildState *bs)
{
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Ivfflat build temporary context",
									   ALLOCSET_DEFAULT_SIZES);
	bs->itembuf = palloc0(bs->st.item_size);
	bs->dists = palloc_array(float, bs->cache.nlists);
}

/* ---------------------------------------------------------------- parallel */

static void
attachShared(IvfBuildState *bs, Relation heap, Relation index, shm_toc *toc)
{
	IvfShared  *sh = shm_toc_lookup(toc, IVF_KEY_SHARED, false);

	if (bs->st.index == NULL)
	{
		IvfInitState(&bs->st, index);
		initCache(&bs->st, &bs->cache, sh->nlists);
		memcpy(bs->cache.centroids, shm_toc_lookup(toc, IVF_KEY_CENTROIDS, false),
			   bs->cache.item_size * sh->nlists);
		IvfCentroidNorms(&bs->st, &bs->cache);
		bs->st.cache = &bs->cache;
	}
	bs->heap = heap;
	bs->shared = sh;
	bs->tails = sh->tails;
	initLoader(bs);
}

static void
participate(IvfBuildState *bs, IndexInfo *indexInfo, shm_toc *toc, bool progress)
{
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, IVF_KEY_SCAN, false);
	TableScanDesc scan = table_beginscan_parallel(bs->heap, pscan);

	bs->reltuples = 0;
	bs->indtuples = 0;
	table_index_build_scan(bs->heap, bs->st.index, indexInfo, true, progress,
						   loadCallback, bs, scan);
	SpinLockAcquire(&bs->shared->mutex);
	bs->shared->reltuples += bs->reltuples;
	bs->shared->indtuples += bs->indtuples;
	SpinLockRelease(&bs->shared->mutex);
}

/* Entry point of a parallel build worker. */
PGDLLEXPORT void IvfParallelBuildMain(dsm_segment *seg, shm_toc *toc);

void
IvfParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	IvfShared  *sh = shm_toc_lookup(toc, IVF_KEY_SHARED, false);
	LOCKMODE	heaplock = sh->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	Relation	heap = table_open(sh->heaprelid, heaplock);
	Relation	index = index_open(sh->indexrelid, RowExclusiveLock);
	IndexInfo  *indexInfo = BuildIndexInfo(index);
	IvfBuildState *bs = palloc0(sizeof(IvfBuildState));

	indexInfo->ii_Concurrent = sh->isconcurrent;
	attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, false);
	index_close(index, RowExclusiveLock);
	table_close(heap, heaplock);
}

/*
 * The load with nworkers workers and the leader.  Returns false, having
 * done nothing, when no shared memory could be had.
 */
static bool
loadParallel(IvfBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo,
			 int nworkers)
{
	IvfCache   *c = &bs->cache;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		shsize = offsetof(IvfShared, tails) + sizeof(pg_atomic_uint32) * c->nlists;
	IvfShared  *sh;
	shm_toc    *toc;

	{
		VecShmChunk chunks[2] = {
			{IVF_KEY_SHARED, shsize},
			{IVF_KEY_CENTROIDS, (Size) c->item_size * c->nlists}
		};

		pcxt = VecBeginParallel("IvfParallelBuildMain", heap, indexInfo, nworkers,
								IVF_KEY_SCAN, chunks, lengthof(chunks), &snapshot);
	}
	if (pcxt == NULL)
		return false;

	toc = pcxt->toc;
	sh = shm_toc_lookup(toc, IVF_KEY_SHARED, false);
	memset(sh, 0, shsize);
	sh->heaprelid = RelationGetRelid(heap);
	sh->indexrelid = RelationGetRelid(index);
	sh->isconcurrent = indexInfo->ii_Concurrent;
	sh->nlists = c->nlists;
	SpinLockInit(&sh->mutex);
	for (uint32 i = 0; i < c->nlists; i++)
		pg_atomic_init_u32(&sh->tails[i], pg_atomic_read_u32(&bs->tails[i]));
	memcpy(shm_toc_lookup(toc, IVF_KEY_CENTROIDS, false), c->centroids,
		   (Size) c->item_size * c->nlists);

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	{
		pg_atomic_uint32 *local_tails = bs->tails;

		attachShared(bs, heap, index, toc);
		participate(bs, indexInfo, toc, true);
		WaitForParallelWorkersToFinish(pcxt);
		for (uint32 i = 0; i < c->nlists; i++)
			pg_atomic_write_u32(&local_tails[i], pg_atomic_read_u32(&sh->tails[i]));
		bs->tails = local_tails;
	}
	bs->reltuples = sh->reltuples;
	bs->indtuples = sh->indtuples;
	bs->shared = NULL;

	VecEndParallel(pcxt, snapshot);
	return true;
}

/* ---------------------------------------------------------------- build */

/* for dedupeCentroids' sort */
static const char *dedupeItems;
static Size dedupeItemSize;

static int
cmpCentroid(const void *a, const void *b)
{
	uint32		i = *(const uint32 *) a;
	uint32		j = *(const uint32 *) b;
	int			r = memcmp(dedupeItems + dedupeItemSize * i, dedupeItems + dedupeItemSize * j,
						   dedupeItemSize);

	return r != 0 ? r : (i < j ? -1 : i > j);
}

/*
 * Keep one of each set of identical centroids, in their order; returns how
 * many are left.  k-means leaves copies when the sample has fewer distinct
 * rows than lists (it seeds the spare centroids on points already taken),
 * and distinct float centroids can become one item (bits, halves).  A copy
 * could never take a row (rows go to the lowest-numbered of equal
 * centroids), so it would only be an empty list for a query to probe
 * instead of the full one.
 */
static uint32
dedupeCentroids(char *items, Size item_size, uint32 n)
{
	uint32	   *order = palloc_array(uint32, n);
	bool	   *drop = palloc0_array(bool, n);
	uint32		kept = 0;

	for (uint32 i = 0; i < n; i++)
		order[i] = i;
	dedupeItems = items;
	dedupeItemSize = item_size;
	qsort(order, n, sizeof(uint32), cmpCentroid);
	for (uint32 i = 1; i < n; i++)
		if (memcmp(items + item_size * order[i - 1], items + item_size * order[i], item_size) == 0)
			drop[order[i]] = true;
	for (uint32 i = 0; i < n; i++)
		if (!drop[i])
		{
			if (kept != i)
				memcpy(items + item_size * kept, items + item_size * i, item_size);
			kept++;
		}
	pfree(order);
	pfree(drop);
	return kept;
}

/* Draw the sample and run k-means; sets bs->cache. */
static void
train(IvfBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo, int lists)
{
	IvfState   *st = &bs->st;
	Size		budget = (Size) maintenance_work_mem * 1024 / 4;
	uint32		nlists;

	bs->maxsample = lists * IVF_SAMPLES_PER_LIST;
	if ((Size) bs->maxsample * st->item_size > budget)
		bs->maxsample = Max((int) (budget / st->item_size), lists);
	bs->sample = palloc_extended(st->item_size * bs->maxsample, MCXT_ALLOC_HUGE);
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Ivfflat sample temporary context",
									   ALLOCSET_DEFAULT_SIZES);
	bs->itembuf = palloc0(st->item_size);
	pg_prng_seed(&bs->prng, IVF_KMEANS_SEED);
	table_index_build_scan(heap, index, indexInfo, true, true, sampleCallback, bs, NULL);
	MemoryContextDelete(bs->tmpCtx);

	/* only when the memory limit really left rows out of the sample */
	if (bs->maxsample < lists * IVF_SAMPLES_PER_LIST && bs->seen > bs->maxsample)
		ereport(NOTICE,
				(errmsg("ivfflat sample limited to %d rows by maintenance_work_mem",
						bs->maxsample),
				 errdetail("k-means would use %d rows, %d per list.",
						   lists * IVF_SAMPLES_PER_LIST, IVF_SAMPLES_PER_LIST),
				 errhint("Increase maintenance_work_mem for better lists.")));

	/* pgvector's wording; fewer rows than lists gives one list per row */
	if (bs->nsample < lists)
		ereport(NOTICE,
				(errmsg("ivfflat index created with little data"),
				 errdetail("This will cause low recall."),
				 errhint("Drop the index until the table has more data.")));

	/*
	 * Fewer rows than lists: one list per row (an empty table gets one list
	 * with a zero centroid, which takes every row inserted later).
	 */
	nlists = Max(Min(lists, bs->nsample), 1);
	initCache(st, &bs->cache, nlists);
	if (bs->nsample > 0)
	{
		/* k-means works on floats: the type converts its items both ways */
		float	   *data = palloc_extended(sizeof(float) * st->dim * bs->nsample, MCXT_ALLOC_HUGE);
		float	   *cents = palloc_extended(sizeof(float) * st->dim * nlists, MCXT_ALLOC_HUGE);

		for (int i = 0; i < bs->nsample; i++)
		{
			float	   *row = data + (Size) i * st->dim;

			st->ops->item_to_floats(bs->sample + st->item_size * i, st->dim, row);
			/* spherical k-means wants unit vectors */
			if (st->metric == VEC_METRIC_COSINE && !st->ops->unit_cosine_items)
				IvfNormalise(row, st->dim);
		}
		pfree(bs->sample);
		IvfKmeans(data, bs->nsample, st->dim, nlists, st->metric == VEC_METRIC_COSINE,
				  cents, IVF_KMEANS_SEED);
		for (uint32 j = 0; j < nlists; j++)
			st->ops->floats_to_item(cents + (Size) j * st->dim, st->dim,
									bs->cache.centroids + st->item_size * j);
		pfree(data);
		pfree(cents);
		bs->cache.nlists = dedupeCentroids(bs->cache.centroids, st->item_size, nlists);
	}
	IvfCentroidNorms(st, &bs->cache);
	st->cache = &bs->cache;
}

IndexBuildResult *
ivfbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IvfBuildState *bs = palloc0(sizeof(IvfBuildState));
	IvfState   *st = &bs->st;
	IvfCache   *c = &bs->cache;
	IvfOptions *opts = (IvfOptions *) index->rd_options;
	int			lists = opts ? opts->lists : IVF_DEFAULT_LISTS;
	IndexBuildResult *result;
	int			nworkers;
	BlockNumber first_list_page PG_USED_FOR_ASSERTS_ONLY;

	IvfInitState(st, index);
	st->dim = VecIndexCheckDims(index, st->ops, "ivfflat", st->ops->ivf_max_dim);
	st->item_size = MAXALIGN(st->ops->item_size(st->dim));
	bs->heap = heap;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, IVF_PHASE_KMEANS);
	train(bs, heap, index, indexInfo, lists);

	writeMetaAndDirectory(st, c, MAIN_FORKNUM);

	/* one empty page per list, so that every list has a newest page */
	bs->tails = palloc_array(pg_atomic_uint32, c->nlists);
	first_list_page = c->dir_start + (c->nlists + c->entries_per_page - 1) / c->entries_per_page;
	for (uint32 i = 0; i < c->nlists; i++)
	{
		Buffer		buf = VecIndexNewBuffer(index, MAIN_FORKNUM);

		Assert(BufferGetBlockNumber(buf) == first_list_page + i);
		IvfInitPage(BufferGetPage(buf), IVF_PAGE_LIST);
		MarkBufferDirty(buf);
		pg_atomic_init_u32(&bs->tails[i], BufferGetBlockNumber(buf));
		UnlockReleaseBuffer(buf);
	}

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, IVF_PHASE_ASSIGN);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));
	nworkers = VecBuildWorkers(heap, index);
	if (nworkers == 0 || !loadParallel(bs, heap, index, indexInfo, nworkers))
	{
		initLoader(bs);
		bs->reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											   loadCallback, bs, NULL);
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);

	/* the directory learns each list's newest page */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, IVF_PHASE_LOAD);
	for (uint32 i = 0; i < c->nlists; i++)
	{
		BlockNumber blk;
		Size		off;
		Buffer		buf;

		IvfDirLocate(c, i, &blk, &off);
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		((IvfDirEntryData *) ((char *) BufferGetPage(buf) + off))->tail =
			pg_atomic_read_u32(&bs->tails[i]);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs->reltuples;
	result->index_tuples = bs->indtuples;
	return result;
}

/* The init fork of an unlogged index: one list with a zero centroid. */
void
ivfbuildempty(Relation index)
{
	IvfState	st;
	IvfCache	c;
	Buffer		buf;
	BlockNumber blk;
	Size		off;

	IvfInitState(&st, index);
	initCache(&st, &c, 1);
	writeMetaAndDirectory(&st, &c, INIT_FORKNUM);

	/* and its empty page */
	buf = VecIndexNewBuffer(index, INIT_FORKNUM);
	IvfInitPage(BufferGetPage(buf), IVF_PAGE_LIST);
	MarkBufferDirty(buf);
	log_newpage_buffer(buf, true);
	IvfDirLocate(&c, 0, &blk, &off);
	UnlockReleaseBuffer(buf);
	buf = ReadBufferExtended(index, INIT_FORKNUM, blk, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	((IvfDirEntryData *) ((char *) BufferGetPage(buf) + off))->tail = c.dir_start + 1;
	MarkBufferDirty(buf);
	log_newpage_buffer(buf, true);
	UnlockReleaseBuffer(buf);
}
