/*
 * hnswbuildparallel.c
 *	  CREATE INDEX with workers: the DSM segment that holds a shared graph
 *	  (or only the scan, for an on-disk parallel build), the workers' entry
 *	  point, and the fallbacks when the graph would not fit (README.md).
 */
#include "compat.h"

#include <float.h>

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
		HnswInitState(&bs->st, index);
	bs->heap = heap;
	bs->shared = sh;
	bs->locks = sh->stripes;
	LWLockRegisterTranche(sh->tranche_id, "hnsw build");
	bs->cap = bs->limit = sh->cap;
	bs->items = shm_toc_lookup(toc, HNSW_KEY_ITEMS, false);
	bs->links0 = shm_toc_lookup(toc, HNSW_KEY_LINKS0, false);
	bs->nlinks0 = shm_toc_lookup(toc, HNSW_KEY_NLINKS0, false);
	bs->levels = shm_toc_lookup(toc, HNSW_KEY_LEVELS, false);
	bs->tids = shm_toc_lookup(toc, HNSW_KEY_TIDS, false);
	bs->upper = shm_toc_lookup(toc, HNSW_KEY_UPPER, false);
	bs->dup_next = shm_toc_lookup(toc, HNSW_KEY_DUPNEXT, false);
	bs->arena = shm_toc_lookup(toc, HNSW_KEY_ARENA, false);
	/* participants draw different levels; parallel builds are not repeatable */
	pg_prng_seed(&bs->prng, 0x484E5357 ^ (uint64) (ParallelWorkerNumber + 2));
	HnswBuildInitParticipant(bs, sh->cap);
}

/*
 * Set bs up for a parallel build without a shared graph: every row goes
 * through the ordinary on-disk insert, as after a HnswBuildSpill.
 */
static void
attachOnDisk(HnswBuildState *bs, Relation heap, Relation index, shm_toc *toc)
{
	if (bs->st.index == NULL)
		HnswInitState(&bs->st, index);
	bs->heap = heap;
	bs->shared = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);
	bs->spilled = true;
	pg_prng_seed(&bs->prng, 0x484E5357 ^ (uint64) (ParallelWorkerNumber + 2));
	/* the leader has these from writing the empty graph */
	if (bs->tmpCtx == NULL)
		bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "Hnsw build temporary context",
										   ALLOCSET_DEFAULT_SIZES);
	if (bs->itembuf == NULL)
		bs->itembuf = palloc0(bs->st.item_max);
}

/* Scan this participant's share of the heap into the graph. */
static void
participate(HnswBuildState *bs, IndexInfo *indexInfo, shm_toc *toc, bool progress)
{
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, HNSW_KEY_SCAN, false);
	TableScanDesc scan = table_beginscan_parallel(bs->heap, pscan);
	double		reltuples;

	reltuples = table_index_build_scan(bs->heap, bs->st.index, indexInfo, true, progress,
									   HnswBuildCallback, bs, scan);
	SpinLockAcquire(&bs->shared->mutex);
	bs->shared->reltuples += reltuples;
	bs->shared->indtuples += bs->indtuples;
	SpinLockRelease(&bs->shared->mutex);
}

/*
 * Forget the shared graph of a parallel build that outgrew its segment, so
 * that the leader can start again serially.  The segment is unmapped by
 * now: every array pointer into it goes, so that the serial build
 * allocates its own instead of growing (repalloc) memory that is gone, and
 * the node limit returns to what maintenance_work_mem holds, not the
 * estimate that proved wrong.  Nothing of the shared graph is kept; the
 * serial build scans the heap again from the start.
 */
static void
detachShared(HnswBuildState *bs, uint32 limit)
{
	bs->shared = NULL;
	bs->locks = NULL;
	bs->items = NULL;
	bs->links0 = NULL;
	bs->nlinks0 = NULL;
	bs->levels = NULL;
	bs->tids = NULL;
	bs->upper = NULL;
	bs->dup_next = NULL;
	bs->arena = NULL;
	bs->n = 0;
	bs->cap = 0;
	bs->limit = limit;
	bs->entry = HNSW_NO_NODE;
	bs->entry_level = -1;
	bs->indtuples = 0;
	bs->reltuples = 0;
	MemoryContextDelete(bs->tmpCtx);
	bs->tmpCtx = NULL;
	/* sized for the shared graph; the serial build makes its own */
	pfree(bs->visited.stamps);
	bs->visited.stamps = NULL;
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
	if (sh->ondisk)
		attachOnDisk(bs, heap, index, toc);
	else
		attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, false);
	index_close(index, RowExclusiveLock);
	table_close(heap, heaplock);
}

/* A chunk of a parallel build's DSM segment, under a toc key. */
typedef struct ShmChunk
{
	uint64		key;
	Size		size;
} ShmChunk;

/* Leave what beginParallel entered. */
static void
endParallel(ParallelContext *pcxt, Snapshot snapshot)
{
	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}

/*
 * Enter parallel mode and make a parallel build's DSM segment: the shared
 * state (identity filled in, the rest zero), the parallel heap scan, and
 * nchunks further chunks, allocated under their keys.  NULL, with parallel
 * mode left again, when no segment could be had.
 */
static ParallelContext *
beginParallel(Relation heap, Relation index, IndexInfo *indexInfo, int nworkers,
			  const ShmChunk *chunks, int nchunks, Snapshot *snapshot, HnswShared **shp)
{
	ParallelContext *pcxt;
	Size		scansize;
	HnswShared *sh;
	shm_toc    *toc;
	ParallelTableScanDesc pscan;

	EnterParallelMode();
	pcxt = CreateParallelContext("vector", "HnswParallelBuildMain", nworkers);
	*snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	scansize = table_parallelscan_estimate(heap, *snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(HnswShared));
	shm_toc_estimate_chunk(&pcxt->estimator, scansize);
	for (int i = 0; i < nchunks; i++)
		shm_toc_estimate_chunk(&pcxt->estimator, chunks[i].size);
	shm_toc_estimate_keys(&pcxt->estimator, 2 + nchunks);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		endParallel(pcxt, *snapshot);
		return NULL;
	}

	toc = pcxt->toc;
	sh = shm_toc_allocate(toc, sizeof(HnswShared));
	memset(sh, 0, sizeof(HnswShared));
	sh->heaprelid = RelationGetRelid(heap);
	sh->indexrelid = RelationGetRelid(index);
	sh->isconcurrent = indexInfo->ii_Concurrent;
	SpinLockInit(&sh->mutex);
	shm_toc_insert(toc, HNSW_KEY_SHARED, sh);
	pscan = shm_toc_allocate(toc, scansize);
	table_parallelscan_initialize(heap, pscan, *snapshot);
	shm_toc_insert(toc, HNSW_KEY_SCAN, pscan);
	for (int i = 0; i < nchunks; i++)
		shm_toc_insert(toc, chunks[i].key, shm_toc_allocate(toc, chunks[i].size));
	*shp = sh;
	return pcxt;
}

/*
 * A parallel build whose graph does not fit in memory: the leader writes
 * an empty graph (and says it no longer fits, after 0 tuples), then it and
 * nworkers workers insert every row on disk, as concurrent inserts do.
 * Returns false, having done nothing, when no shared memory could be had.
 */
static bool
buildParallelOnDisk(HnswBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo,
					int nworkers)
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	HnswShared *sh;
	shm_toc    *toc;

	pcxt = beginParallel(heap, index, indexInfo, nworkers, NULL, 0, &snapshot, &sh);
	if (pcxt == NULL)
		return false;
	toc = pcxt->toc;
	sh->ondisk = true;

	/* the empty graph the participants insert into, as a serial HnswBuildSpill writes it */
	HnswBuildGrow(bs);
	bs->arena_cap = 1024;
	bs->arena_used = 1;
	bs->arena = palloc_extended(sizeof(uint32) * bs->arena_cap, MCXT_ALLOC_HUGE);
	HnswBuildInitParticipant(bs, bs->cap);
	HnswBuildSpill(bs);

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	attachOnDisk(bs, heap, index, toc);
	participate(bs, indexInfo, toc, true);
	WaitForParallelWorkersToFinish(pcxt);
	bs->reltuples = sh->reltuples;
	bs->indtuples = sh->indtuples;
	bs->shared = NULL;
	endParallel(pcxt, snapshot);
	return true;
}

/*
 * Build the graph with nworkers workers and the leader, all inserting into
 * one graph in shared memory, then write it.  Returns false, having done
 * nothing lasting, when the graph would not fit in maintenance_work_mem or
 * did not after all (then the caller builds serially, spilling as needed).
 */
bool
HnswBuildParallel(HnswBuildState *bs, Relation heap, Relation index, IndexInfo *indexInfo,
			  int nworkers)
{
	HnswState  *st = &bs->st;
	double		est = heap->rd_rel->reltuples;
	double		area;			/* nodes the shared graph may hold */
	uint32		cap;
	uint64		arena_words;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	HnswShared *sh;
	shm_toc    *toc;
	bool		ok;
	uint32		limit;
	ShmChunk	chunks[8];

	/* never analysed: a generous guess from the table's size */
	if (est < 0)
		est = (double) RelationGetNumberOfBlocks(heap) * (BLCKSZ / (st->item_size + 32.0));
	area = Min(bs->limit, (double) (bs->budget - Min(bs->budget, HNSW_PARALLEL_RESERVE)) / bs->node_cost);
	if (est * 1.1 + 1000 > area)
	{
		/*
		 * The shared graph cannot hold it.  When it cannot hold even half
		 * (a small maintenance_work_mem, or a table far beyond it), build in
		 * parallel on disk from the first row, as pgvector does once its
		 * shared graph fills.  Otherwise build serially, in memory as far
		 * as it goes and then on disk: faster when most of the graph fits
		 * (20,000 vector(32) rows in 4 MB, 73% fitting a serial build: 9.2 s
		 * serially against 22.6 s in parallel on disk, 2 workers, 2 cores).
		 */
		if (area < (est * 1.1 + 1000) / 2)
			return buildParallelOnDisk(bs, heap, index, indexInfo, nworkers);
		return false;
	}
	cap = (uint32) (est * 1.1 + 1000);
	/* a node has 1/(m-1) upper levels on average; room for three times that */
	arena_words = 1 + (uint64) cap * (st->m + 1) * 3 / (st->m - 1) + (uint64) 64 * (st->m + 1);

	chunks[0].key = HNSW_KEY_ITEMS;
	chunks[0].size = (Size) cap * st->item_size;
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

	pcxt = beginParallel(heap, index, indexInfo, nworkers, chunks, lengthof(chunks),
						 &snapshot, &sh);
	if (pcxt == NULL)
		return false;			/* no dynamic shared memory: build serially */
	toc = pcxt->toc;
	sh->cap = cap;
	sh->arena_words = arena_words;
	sh->tranche_id = LWLockNewTrancheId();
	pg_atomic_init_u32(&sh->n, 0);
	pg_atomic_init_u64(&sh->arena_used, 1);	/* offset 0 means "none" */
	pg_atomic_init_u32(&sh->overflow, 0);
	LWLockInitialize(&sh->entry_lock, sh->tranche_id);
	sh->entry = HNSW_NO_NODE;
	sh->entry_level = -1;
	for (int i = 0; i < HNSW_BUILD_STRIPES; i++)
		LWLockInitialize(&sh->stripes[i], sh->tranche_id);

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	/* attachShared makes the segment's size the limit; a fallback needs ours */
	limit = bs->limit;
	attachShared(bs, heap, index, toc);
	participate(bs, indexInfo, toc, true);
	WaitForParallelWorkersToFinish(pcxt);

	ok = pg_atomic_read_u32(&sh->overflow) == 0;
	if (ok)
	{
		bs->n = Min(pg_atomic_read_u32(&sh->n), cap);
		bs->entry = sh->entry;
		bs->entry_level = sh->entry_level;
		bs->reltuples = sh->reltuples;
		bs->indtuples = sh->indtuples;
		/* the graph is complete: write it while the segment is mapped */
		bs->locks = NULL;
		HnswBuildRepairReach(bs);
		HnswBuildWrite(bs);
	}

	endParallel(pcxt, snapshot);
	if (!ok)
	{
		ereport(DEBUG1,
				(errmsg("hnsw parallel build outgrew its estimate of %u nodes; building serially", cap)));
		detachShared(bs, limit);
	}
	return ok;
}

