/*
 * vecparallel.c
 *	  The DSM segment of a parallel index build, for both AMs: parallel
 *	  mode, the snapshot, the parallel heap scan, and the AM's chunks under
 *	  their keys; and leaving it all again.
 */
#include "compat.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "nodes/execnodes.h"
#include "utils/snapmgr.h"

#include "vecindex.h"

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
