/*
 * hnswbuildparallel.c
 *	  CREATE INDEX with workers: the DSM segment that holds the shared
 *	  graph (and, for variable-length items, their arena), the workers'
 *	  entry point, the parallel spill, and the fallback to a serial build
 *	  when the graph would not fit (README.md).
 */
#include "compat.h"

#include <float.h>
#include <math.h>

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnswbuild.h"


/* ---------------------------------------------------------------- parallel */

/* Point bs at the shared graph of a parallel build. */
static void
attachShared(HnswBuildState *bs, Relation heap, Relation index, shm_toc *toc)
{
	HnswShared *sh = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);

	if (bs->st.index == NULL)
	{
		HnswBuildInitStates(bs, index);
		if (bs->codes)
			HnswBuildInitCodes(bs, shm_toc_lookup(toc, HNSW_KEY_CENTRE, false));
	}
	bs->heap = heap;
	bs->shared = sh;
	bs->locks = sh->stripes;
	LWLockRegisterTranche(sh->tranche_id, "hnsw build");
	bs->cap = bs->limit = sh->cap;
	if (bs->st.item_refs)
	{
		bs->item_off = shm_toc_lookup(toc, HNSW_KEY_ITEMS, false);
		bs->vitems = shm_toc_lookup(toc, HNSW_KEY_VITEMS, false);
		bs->vitems_cap = sh->vitems_bytes;
	}
	else
		bs->items = shm_toc_lookup(toc, HNSW_KEY_ITEMS, false);
	bs->links0 = shm_toc_lookup(toc, HNSW_KEY_LINKS0, false);
	bs->nlinks0 = shm_toc_lookup(toc, HNSW_KEY_NLINKS0, false);
	bs->levels = shm_toc_lookup(toc, HNSW_KEY_LEVELS, false);
	bs->tids = shm_toc_lookup(toc, HNSW_KEY_TIDS, false);
	if (bs->st.nfilters > 0)
		bs->filters = shm_toc_lookup(toc, HNSW_KEY_FILTERS, false);
	bs->upper = shm_toc_lookup(toc, HNSW_KEY_UPPER, false);
	bs->dup_next = shm_toc_lookup(toc, HNSW_KEY_DUPNEXT, false);
	bs->arena = shm_toc_lookup(toc, HNSW_KEY_ARENA, false);
	/* participants draw different levels; parallel builds are not repeatable */
	pg_prng_seed(&bs->prng, 0x484E5357 ^ (uint64) (ParallelWorkerNumber + 2));
	HnswBuildInitParticipant(bs, sh->cap);
}

/*
 * Scan this participant's share of the heap into the graph.  While it
 * scans it counts as active: a spill waits for every active participant
 * to stop (HnswBuildParallelSpill).
 */
static void
participate(HnswBuildState *bs, IndexInfo *indexInfo, shm_toc *toc, bool progress)
{
	HnswShared *sh = bs->shared;
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, HNSW_KEY_SCAN, false);
	TableScanDesc scan;
	double		reltuples;

	SpinLockAcquire(&sh->mutex);
	sh->nactive++;
	SpinLockRelease(&sh->mutex);
	scan = table_beginscan_parallel(bs->heap, pscan);
	reltuples = table_index_build_scan(bs->heap, bs->st.index, indexInfo, true, progress,
									   HnswBuildCallback, bs, scan);
	SpinLockAcquire(&sh->mutex);
	sh->nactive--;
	sh->reltuples += reltuples;
	sh->indtuples += bs->indtuples;
	SpinLockRelease(&sh->mutex);
	ereport(DEBUG2,
			(errmsg("hnsw build participant indexed %.0f rows", bs->indtuples)));
	/* a spill may be waiting for this one to stop */
	ConditionVariableBroadcast(&sh->spill_cv);
}

/* Whether every participant still scanning waits for the graph to be written. */
static bool
allParked(HnswShared *sh)
{
	bool		all;

	SpinLockAcquire(&sh->mutex);
	all = sh->nparked >= sh->nactive;
	SpinLockRelease(&sh->mutex);
	return all;
}

/*
 * The leader's part of a spill: once every other participant has stopped
 * (parked in HnswBuildParallelSpill, or done with its share of the heap),
 * nobody touches the shared graph, and the leader writes it as a serial
 * build writes what fits (HnswBuildSpill); then everyone goes on on disk.
 */
static void
writeSpilled(HnswBuildState *bs)
{
	HnswShared *sh = bs->shared;
	double		mine;

	ConditionVariablePrepareToSleep(&sh->spill_cv);
	while (!allParked(sh))
		ConditionVariableSleep(&sh->spill_cv, PG_WAIT_EXTENSION);
	ConditionVariableCancelSleep();

	bs->n = Min(pg_atomic_read_u32(&sh->n), sh->cap);
	bs->entry = sh->entry;
	bs->entry_level = sh->entry_level;
	bs->locks = NULL;			/* the graph holds still now */
	mine = bs->indtuples;
	bs->indtuples = bs->n;		/* for the NOTICE: rows in the graph */
	HnswBuildRepairReach(bs);
	HnswBuildSpill(bs);
	bs->indtuples = mine;
	pg_atomic_write_u32(&sh->spill, HNSW_SPILL_WRITTEN);
	ConditionVariableBroadcast(&sh->spill_cv);
}

/*
 * The shared graph is full (or another participant found it so): stop
 * inserting into it, wait until the leader has written it, and go on with
 * the rest of this participant's rows on disk, as concurrent inserts do
 * (bs->spilled).  The leader writes it here once all others have stopped.
 */
void
HnswBuildParallelSpill(HnswBuildState *bs)
{
	HnswShared *sh = bs->shared;
	uint32		none = HNSW_SPILL_NONE;

	SpinLockAcquire(&sh->mutex);
	sh->nparked++;
	SpinLockRelease(&sh->mutex);
	(void) pg_atomic_compare_exchange_u32(&sh->spill, &none, HNSW_SPILL_ASKED);
	ConditionVariableBroadcast(&sh->spill_cv);

	if (!IsParallelWorker())
	{
		if (pg_atomic_read_u32(&sh->spill) != HNSW_SPILL_WRITTEN)
			writeSpilled(bs);
	}
	else
	{
		ConditionVariablePrepareToSleep(&sh->spill_cv);
		while (pg_atomic_read_u32(&sh->spill) != HNSW_SPILL_WRITTEN)
			ConditionVariableSleep(&sh->spill_cv, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
	}
	SpinLockAcquire(&sh->mutex);
	sh->nparked--;
	SpinLockRelease(&sh->mutex);
	bs->spilled = true;
	/* a worker's inserts code rows the way the leader's write did */
	if (bs->codes && bs->disk.codes == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(bs));

		HnswLoadMeta(&bs->disk);
		MemoryContextSwitchTo(old);
	}
}

/*
 * The leader is done with its share of the heap: write the graph for a
 * spill the workers ask for from now on, until they are all done too.
 */
static void
serveSpills(HnswBuildState *bs)
{
	HnswShared *sh = bs->shared;

	ConditionVariablePrepareToSleep(&sh->spill_cv);
	for (;;)
	{
		int			nactive;

		SpinLockAcquire(&sh->mutex);
		nactive = sh->nactive;
		SpinLockRelease(&sh->mutex);
		if (pg_atomic_read_u32(&sh->spill) == HNSW_SPILL_ASKED)
		{
			ConditionVariableCancelSleep();
			writeSpilled(bs);
			ConditionVariablePrepareToSleep(&sh->spill_cv);
			continue;
		}
		if (nactive == 0)
			break;
		ConditionVariableSleep(&sh->spill_cv, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/* Entry point of a parallel build worker. */
void
HnswParallelBuildMain(dsm_segment *seg, shm_toc *toc)
{
	HnswShared *sh = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);
	LOCKMODE	heaplock = sh->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	Relation	heap = table_open(sh->heaprelid, heaplock);
	Relation	index = index_open(sh->indexrelid, RowExclusiveLock);
	IndexInfo  *indexInfo = BuildIndexInfo(index);
	HnswBuildState *bs = palloc0(sizeof(HnswBuildState));

	indexInfo->ii_Concurrent = sh->isconcurrent;
	attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, false);
	index_close(index, RowExclusiveLock);
	table_close(heap, heaplock);
}

/*
 * Enter parallel mode and make a parallel build's DSM segment
 * (VecBeginParallel): the shared state (identity filled in, the rest
 * zero), the parallel heap scan, and nchunks further chunks under their
 * keys.  NULL when no segment could be had.
 */
static ParallelContext *
beginParallel(Relation heap, Relation index, IndexInfo *indexInfo, int nworkers,
			  const VecShmChunk *chunks, int nchunks, Snapshot *snapshot, HnswShared **shp)
{
	VecShmChunk *all = palloc_array(VecShmChunk, nchunks + 1);
	ParallelContext *pcxt;
	HnswShared *sh;

	all[0].key = HNSW_KEY_SHARED;
	all[0].size = sizeof(HnswShared);
	if (nchunks > 0)
		memcpy(all + 1, chunks, sizeof(VecShmChunk) * nchunks);
	pcxt = VecBeginParallel("HnswParallelBuildMain", heap, indexInfo, nworkers,
							HNSW_KEY_SCAN, all, nchunks + 1, snapshot);
	pfree(all);
	if (pcxt == NULL)
		return NULL;
	sh = shm_toc_lookup(pcxt->toc, HNSW_KEY_SHARED, false);
	memset(sh, 0, sizeof(HnswShared));
	sh->heaprelid = RelationGetRelid(heap);
	sh->indexrelid = RelationGetRelid(index);
	sh->isconcurrent = indexInfo->ii_Concurrent;
	SpinLockInit(&sh->mutex);
	*shp = sh;
	return pcxt;
}

/* what sampleRows saw */
typedef struct HnswItemSample
{
	const VecTypeOps *ops;
	Size		item_max;
	MemoryContext tmpCtx;
	double		rows;			/* rows the build would see, NULL or not */
	double		bytes;			/* arena bytes of the values measured */
	int			nvalues;		/* values measured */
} HnswItemSample;

#define HNSW_SAMPLE_BLOCKS	32
#define HNSW_SAMPLE_VALUES	1000

/*
 * Did estimate_rel_size guess heap's rows from the planner's width of a
 * row?  It does for a table never analysed or vacuumed.
 */
static inline bool
rowsGuessed(Relation heap)
{
	return !(heap->rd_rel->reltuples >= 0 && heap->rd_rel->relpages > 0);
}

static void
sampleCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	HnswItemSample *s = (HnswItemSample *) state;
	MemoryContext old;
	Size		len;

	s->rows++;
	if (s->ops == NULL || isnull[0] || s->nvalues >= HNSW_SAMPLE_VALUES)
		return;
	old = MemoryContextSwitchTo(s->tmpCtx);
	len = s->ops->datum_item_len(PointerGetDatum(PG_DETOAST_DATUM(values[0])));
	MemoryContextSwitchTo(old);
	MemoryContextReset(s->tmpCtx);
	/* a longer value fails the build anyway (check_value) */
	s->bytes += MAXALIGN(Min(len, s->item_max));
	s->nvalues++;
}

/*
 * The heap's first HNSW_SAMPLE_BLOCKS blocks, as the build's scan sees
 * them (expressions computed, dead rows left out).
 *
 * The rows they hold replace *est when estimate_rel_size had to guess
 * from the planner's width of a row (a table never analysed or vacuumed),
 * which guesses 32 bytes for a vector and cannot tell a value moved to
 * TOAST (18 bytes in the row).  100,000 sift-128 rows as sparsevec were
 * guessed at 1.43 million, and in 1 GB of maintenance_work_mem the build
 * went serial for want of room for them; 10,000 rows of vector(1536), all
 * in TOAST, at 8,128, and the shared graph, sized for that, spilled.
 * Otherwise *est stands: were it off, nodes and items would be off by the
 * same factor, and the share of memory each gets would hold.
 *
 * With variable-length items (items), returns the bytes an item takes in
 * the arena, on average, from the first HNSW_SAMPLE_VALUES values; the
 * most an item takes when they have none.  The planner's widths cannot
 * tell that either.
 */
static Size
sampleRows(HnswBuildState *bs, Relation heap, IndexInfo *indexInfo, bool items, double *est)
{
	HnswItemSample s;
	BlockNumber nblocks = RelationGetNumberOfBlocks(heap);

	s.ops = items ? bs->st.ops : NULL;
	s.item_max = bs->st.item_max;
	/* only measuring values needs one (sampleCallback) */
	s.tmpCtx = items ? AllocSetContextCreate(CurrentMemoryContext, "Hnsw item sample context",
											 ALLOCSET_DEFAULT_SIZES) : NULL;
	s.rows = s.bytes = 0;
	s.nvalues = 0;
	/*
	 * The range must lie within the table: on PostgreSQL 15, one that runs
	 * past the end is cut short by as many blocks as it overshoots.
	 */
	if (nblocks > 0)
		table_index_build_range_scan(heap, bs->st.index, indexInfo, false, true, false,
									 0, Min(nblocks, HNSW_SAMPLE_BLOCKS), sampleCallback, &s, NULL);
	if (s.tmpCtx)
		MemoryContextDelete(s.tmpCtx);
	if (rowsGuessed(heap) && nblocks > 0)
		*est = s.rows * nblocks / Min(nblocks, HNSW_SAMPLE_BLOCKS);
	if (!items)
		return 0;
	if (s.nvalues == 0)
		return MAXALIGN(bs->st.item_max);
	return (Size) ceil(s.bytes / s.nvalues);
}

/*
 * Build the graph with nworkers workers and the leader, all inserting into
 * one graph in shared memory, then write it.  When the graph fills (its
 * node slots, or the arena of variable-length items), all of them stop,
 * the leader writes it, and they go on on disk (HnswBuildParallelSpill).
 * Returns false, having changed nothing, when a serial build would hold
 * most of the graph but the shared one cannot hold all of it, or when no
 * shared memory could be had (then the caller builds serially, spilling
 * as needed).
 */
bool
HnswBuildParallel(HnswBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo,
			  int nworkers)
{
	HnswState  *st = &bs->st;
	double		est;
	BlockNumber pages;
	double		allvisfrac;
	double		area;			/* nodes the shared graph may hold */
	uint32		cap;
	uint64		arena_words;
	Size		item_bytes = 0; /* arena bytes per variable-length item */
	uint64		vitems_bytes = 0;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	HnswShared *sh;
	shm_toc    *toc;
	VecShmChunk	chunks[11];
	int			nchunks = 8;

	/*
	 * Rows as the planner reckons them: the density ANALYZE or VACUUM saw,
	 * times the pages the table has now (a guess from the row width when
	 * never analysed), so that a table that grew since is not taken for its
	 * old size.
	 */
	estimate_rel_size(heap, NULL, &pages, &est, &allvisfrac);
	/*
	 * Variable-length items share the memory with the nodes, in their
	 * arena; and a guessed row count is counted instead.
	 */
	if (st->item_refs || rowsGuessed(heap))
		item_bytes = sampleRows(bs, heap, indexInfo, st->item_refs, &est);
	area = Min(bs->limit, (double) (bs->budget - Min(bs->budget, HNSW_PARALLEL_RESERVE)) /
			   (bs->node_cost + item_bytes));
	if (est * 1.1 + 1000 > area && area >= (est * 1.1 + 1000) / 2)
	{
		/*
		 * The shared graph cannot hold it all, but half or more: build
		 * serially, in memory as far as it goes and then on disk, which
		 * then holds more of it (the shared graph leaves 3 MB of
		 * maintenance_work_mem to the rest of the build).  Measured where
		 * a serial build held 73%: 9.2 s serially, 22.6 s in parallel on
		 * disk (20,000 vector(32) rows in 4 MB, 2 workers, 2 cores).
		 */
		return false;
	}
	/* as much as fits, and no less than a few pages' worth */
	cap = (uint32) Max(Min(est * 1.1 + 1000, area), 1024);
	/* a node has 1/(m-1) upper levels on average; room for three times that */
	arena_words = 1 + (uint64) cap * (st->m + 1) * 3 / (st->m - 1) + (uint64) 64 * (st->m + 1);

	/* with variable-length items, an offset per node, and their arena */
	chunks[0].key = HNSW_KEY_ITEMS;
	chunks[0].size = (Size) cap * (st->item_refs ? sizeof(uint64) : st->item_size);
	chunks[1].key = HNSW_KEY_LINKS0;
	chunks[1].size = (Size) cap * 2 * st->m * sizeof(uint32);
	chunks[2].key = HNSW_KEY_NLINKS0;
	chunks[2].size = (Size) cap * sizeof(uint16);
	chunks[3].key = HNSW_KEY_LEVELS;
	chunks[3].size = (Size) cap * sizeof(uint8);
	chunks[4].key = HNSW_KEY_TIDS;
	chunks[4].size = (Size) cap * sizeof(ItemPointerData);
	chunks[5].key = HNSW_KEY_UPPER;
	chunks[5].size = (Size) cap * sizeof(uint64);
	chunks[6].key = HNSW_KEY_DUPNEXT;
	chunks[6].size = (Size) cap * sizeof(uint32);
	chunks[7].key = HNSW_KEY_ARENA;
	chunks[7].size = (Size) arena_words * sizeof(uint32);
	if (st->item_refs)
	{
		/* as many items as nodes; when it is full first, so is the graph */
		vitems_bytes = (uint64) cap * item_bytes;
		chunks[nchunks].key = HNSW_KEY_VITEMS;
		chunks[nchunks++].size = (Size) vitems_bytes;
	}
	if (st->nfilters > 0)
	{
		chunks[nchunks].key = HNSW_KEY_FILTERS;
		chunks[nchunks++].size = (Size) cap * st->filter_size;
	}
	/* with codes, the centre the leader computed: every participant codes around it */
	if (bs->codes)
	{
		chunks[nchunks].key = HNSW_KEY_CENTRE;
		chunks[nchunks++].size = sizeof(float) * bs->disk.dim;
	}

	pcxt = beginParallel(heap, index, indexInfo, nworkers, chunks, nchunks, &snapshot, &sh);
	if (pcxt == NULL)
		return false;			/* no dynamic shared memory: build serially */
	toc = pcxt->toc;
	if (bs->codes)
		memcpy(shm_toc_lookup(toc, HNSW_KEY_CENTRE, false), bs->centre, sizeof(float) * bs->disk.dim);
	sh->cap = cap;
	sh->arena_words = arena_words;
	sh->vitems_bytes = vitems_bytes;
	sh->tranche_id = LWLockNewTrancheId();
	pg_atomic_init_u32(&sh->n, 0);
	pg_atomic_init_u64(&sh->arena_used, 1);	/* offset 0 means "none" */
	pg_atomic_init_u64(&sh->vitems_used, 0);
	pg_atomic_init_u32(&sh->spill, HNSW_SPILL_NONE);
	ConditionVariableInit(&sh->spill_cv);
	LWLockInitialize(&sh->entry_lock, sh->tranche_id);
	sh->entry = HNSW_NO_NODE;
	sh->entry_level = -1;
	for (int i = 0; i < HNSW_BUILD_STRIPES; i++)
		LWLockInitialize(&sh->stripes[i], sh->tranche_id);

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	if (st->item_refs)
		ereport(DEBUG2,
				(errmsg("hnsw shared graph holds %u nodes and %llu bytes of items (%zu per item) for %.0f rows estimated",
						cap, (unsigned long long) vitems_bytes, item_bytes, est)));
	else
		ereport(DEBUG2,
				(errmsg("hnsw shared graph holds %u nodes for %.0f rows estimated", cap, est)));
	attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, true);
	serveSpills(bs);
	WaitForParallelWorkersToFinish(pcxt);

	bs->reltuples = sh->reltuples;
	bs->indtuples = sh->indtuples;
	if (pg_atomic_read_u32(&sh->spill) == HNSW_SPILL_NONE)
	{
		bs->n = Min(pg_atomic_read_u32(&sh->n), cap);
		bs->entry = sh->entry;
		bs->entry_level = sh->entry_level;
		/* the graph is complete: write it while the segment is mapped */
		bs->locks = NULL;
		HnswBuildRepairReach(bs);
		HnswBuildWrite(bs);
	}
	VecEndParallel(pcxt, snapshot);
	return true;
}

