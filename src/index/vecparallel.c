/*
 * vecparallel.c
 *	  A parallel index build, for both AMs: how many workers to ask for;
 *	  the DSM segment (parallel mode, the snapshot, the parallel heap scan,
 *	  and the AM's chunks under their keys); and leaving it all again.
 */
#include "compat.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "storage/bufmgr.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "vecindex.h"

/*
 * How many workers a build of index asks for: the planner's rule
 * (plan_create_index_workers: max_parallel_maintenance_workers, the
 * table's parallel_workers, parallel safety, maintenance_work_mem, and the
 * table's size against min_parallel_table_scan_size), except that the
 * size counts the table's TOAST pages too.  PostgreSQL 15 plans build
 * workers for btree only, so both AMs ask the rule themselves.
 *
 * Why TOAST: a vector of more than about 500 dimensions is stored out of
 * line, and the table proper holds only pointers to it.  50,000 rows of
 * vector(1536) are 2.5 MB of table and 310 MB of TOAST, and the rule alone
 * built them serially, though reading and inserting those vectors is the
 * whole build.  The rule compares the table's pages with the setting, so
 * the setting is scaled down by the table's share of the pages for the one
 * call, in a GUC nest level of its own.
 */
int
VecBuildWorkers(Relation heap, Relation index)
{
	Oid			heapid = RelationGetRelid(heap);
	Oid			indexid = RelationGetRelid(index);
	int			nworkers;
	BlockNumber mainpages,
				toastpages;
	Relation	toast;
	double		threshold;
	char		value[32];
	int			nest;

	if (!IsNormalProcessingMode() || !RelationNeedsWAL(index))
		return 0;
	nworkers = plan_create_index_workers(heapid, indexid);
	if (nworkers > 0 || max_parallel_maintenance_workers == 0 ||
		!OidIsValid(heap->rd_rel->reltoastrelid))
		return nworkers;

	toast = table_open(heap->rd_rel->reltoastrelid, AccessShareLock);
	toastpages = RelationGetNumberOfBlocks(toast);
	table_close(toast, AccessShareLock);
	mainpages = RelationGetNumberOfBlocks(heap);
	if (toastpages == 0)
		return 0;
	threshold = floor((double) min_parallel_table_scan_size * Max(mainpages, 1) /
					  ((double) mainpages + toastpages));
	snprintf(value, sizeof(value), "%d", (int) Max(threshold, 1));
	nest = NewGUCNestLevel();
	(void) set_config_option("min_parallel_table_scan_size", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	nworkers = plan_create_index_workers(heapid, indexid);
	AtEOXact_GUC(true, nest);
	return nworkers;
}

/*
 * Enter parallel mode and make the segment for nworkers workers that start
 * in entry (a function of this library): the parallel heap scan under
 * scan_key, and each of chunks[0..nchunks) allocated, not zeroed, under its
 * key, for the caller to fill through shm_toc_lookup before it launches the
 * workers.  NULL, with parallel mode left again, when no segment could be
 * had.
 */
ParallelContext *
VecBeginParallel(const char *entry, Relation heap, IndexInfo *indexInfo, int nworkers,
				 uint64 scan_key, const VecShmChunk *chunks, int nchunks,
				 Snapshot *snapshot)
{
	ParallelContext *pcxt;
	Size		scansize;
	ParallelTableScanDesc pscan;

	EnterParallelMode();
	pcxt = CreateParallelContext("vector", entry, nworkers);
	*snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	scansize = table_parallelscan_estimate(heap, *snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, scansize);
	for (int i = 0; i < nchunks; i++)
		shm_toc_estimate_chunk(&pcxt->estimator, chunks[i].size);
	shm_toc_estimate_keys(&pcxt->estimator, 1 + nchunks);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		VecEndParallel(pcxt, *snapshot);
		return NULL;
	}
	pscan = shm_toc_allocate(pcxt->toc, scansize);
	table_parallelscan_initialize(heap, pscan, *snapshot);
	shm_toc_insert(pcxt->toc, scan_key, pscan);
	for (int i = 0; i < nchunks; i++)
		shm_toc_insert(pcxt->toc, chunks[i].key, shm_toc_allocate(pcxt->toc, chunks[i].size));
	return pcxt;
}

/* Leave what VecBeginParallel entered. */
void
VecEndParallel(ParallelContext *pcxt, Snapshot snapshot)
{
	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
}
