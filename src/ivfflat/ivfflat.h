/*
 * ivfflat.h
 *	  The ivfflat index access method: page formats, state and the
 *	  prototypes of each file.  src/ivfflat/README.md explains the
 *	  algorithm, the layout, the locking and the WAL.
 */
#ifndef VECTOR_IVFFLAT_H
#define VECTOR_IVFFLAT_H

#include "compat.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "typeops.h"
#include "vecindex.h"

/* ---------------------------------------------------------------- limits */

#define IVF_DEFAULT_LISTS			100
#define IVF_MIN_LISTS				1
#define IVF_MAX_LISTS				32768
#define IVF_DEFAULT_PROBES			1

/* progress phases, after PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE (1) */
#define IVF_PHASE_KMEANS			2
#define IVF_PHASE_ASSIGN			3
#define IVF_PHASE_LOAD				4

#define IVF_ITERATIVE_OFF			0
#define IVF_ITERATIVE_RELAXED		1

/* ---------------------------------------------------------------- pages */

/* In the last two bytes of every page (hnsw uses 0xFF86). */
#define IVF_PAGE_ID					0xFF87

#define IVF_PAGE_META				1
#define IVF_PAGE_DIR				2
#define IVF_PAGE_LIST				3

/*
 * Special space of every page.  On a list page, prev is the list's
 * previous (older) page: a list is a chain from its newest page, which the
 * directory names, back to its first.
 */
typedef struct IvfPageOpaqueData
{
	BlockNumber prev;			/* InvalidBlockNumber at the chain's end */
	uint16		type;			/* IVF_PAGE_* */
	uint16		flags;			/* none yet */
	uint16		unused;
	uint16		page_id;		/* IVF_PAGE_ID */
} IvfPageOpaqueData;

typedef IvfPageOpaqueData *IvfPageOpaque;

#define IvfPageGetOpaque(page) ((IvfPageOpaque) PageGetSpecialPointer(page))

/* Is page one of ours, of this type?  (The layout first: VecPageLayoutIs.) */
static inline bool
IvfPageIs(Page page, uint16 type)
{
	return VecPageLayoutIs(page, sizeof(IvfPageOpaqueData)) &&
		IvfPageGetOpaque(page)->page_id == IVF_PAGE_ID &&
		IvfPageGetOpaque(page)->type == type;
}

#define IVF_METAPAGE_BLKNO			0
#define IVF_MAGIC					0x49564646	/* "IVFF" */
#define IVF_FORMAT_VERSION			1

typedef struct IvfMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		dim;
	uint32		nlists;			/* lists built; may be < the lists option */
	uint16		metric;			/* VecMetric */
	uint16		unused;
	uint32		item_size;		/* bytes of a stored item */
	uint32		rec_size;		/* bytes of a list record */
	uint32		recs_per_page;
	uint32		entry_size;		/* bytes of a directory entry */
	uint32		entries_per_page;
	BlockNumber dir_start;		/* first directory page */
	uint32		dir_pages;
} IvfMetaPageData;

typedef IvfMetaPageData *IvfMetaPage;

#define IvfPageGetMeta(page)	((IvfMetaPage) PageGetContents(page))

/*
 * Directory entry, one per list, at a fixed place: entry i is on page
 * dir_start + i / entries_per_page.  The centroid is in stored-item form
 * (normalised for cosine), so the item distance kernels apply to it.
 */
typedef struct IvfDirEntryData
{
	BlockNumber tail;			/* newest page of the list, or Invalid */
	BlockNumber room;			/* an older page of the list with free slots
								 * (VACUUM's hint for inserts), or 0: none */
	/* item_size bytes of centroid follow */
} IvfDirEntryData;

#define IvfDirEntryCentroid(e)	((char *) (e) + sizeof(IvfDirEntryData))

/*
 * List record: the heap TID and the stored item, at a fixed stride from the
 * start of the page; pd_lower ends the used records, so a page is scored in
 * one batch and a record is removed by moving the last one into its place.
 */
typedef struct IvfRecData
{
	ItemPointerData heaptid;
	uint16		flags;			/* none yet */
	/* item_size bytes follow */
} IvfRecData;

typedef IvfRecData *IvfRec;

#define IVF_REC_START		MAXALIGN(SizeOfPageHeaderData)
#define IvfRecItem(rec)		((char *) (rec) + sizeof(IvfRecData))

/* ---------------------------------------------------------------- state */

typedef struct IvfOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			lists;
} IvfOptions;

/*
 * What an operation needs about an index: the type and metric from the
 * opclass, the geometry, and the centroids.  The centroids never change
 * after the build, so they are read once per relcache entry and kept in
 * rd_amcache (a REINDEX or TRUNCATE gives a new relfilenode, which drops
 * the relcache entry's cache with it).
 */
typedef struct IvfCache
{
	Oid			relfilenode;	/* the relation file it was read from */
	uint32		nlists;
	int			dim;
	Size		item_size;
	Size		rec_size;
	int			recs_per_page;
	Size		entry_size;
	int			entries_per_page;
	BlockNumber dir_start;
	char	   *centroids;		/* nlists x item_size */
	const void **centroid_ptrs; /* for the batch kernel */
	float	   *centroid_norms; /* |c|^2, when the type has rows_dot */
} IvfCache;

typedef struct IvfState
{
	Relation	index;
	const VecTypeOps *ops;
	VecMetric	metric;			/* the opclass's, for ordering rows */
	VecMetric	list_metric;	/* for assigning rows to lists */
	VecDistanceFn dist;
	VecBatchDistanceFn batch;	/* metric */
	VecBatchDistanceFn list_batch;	/* list_metric */
	int			dim;
	Size		item_size;
	IvfCache   *cache;			/* NULL until IvfLoadCache */
} IvfState;

/* ivfutils.c */
extern void IvfInitState(IvfState *st, Relation index);
extern void IvfLoadCache(IvfState *st);
extern Size IvfRecSize(Size item_size);
extern int	IvfRecsPerPage(Size rec_size);
extern Size IvfEntrySize(Size item_size);
extern int	IvfEntriesPerPage(Size entry_size);
extern void IvfInitPage(Page page, uint16 type);
extern VecMetric IvfListMetric(VecMetric metric);
extern void IvfListScores(IvfState *st, const void *item, float *dists);
extern uint32 IvfNearestList(IvfState *st, const void *item, float *dists);
extern void IvfCentroidNorms(IvfState *st, IvfCache *c);
extern void IvfDirLocate(const IvfCache *c, uint32 list, BlockNumber *blk, Size *off);
extern BlockNumber IvfReadTail(IvfState *st, uint32 list, BlockNumber *room);
extern void IvfSetRoom(IvfState *st, uint32 list, BlockNumber expected, BlockNumber room);
extern int	IvfPageCount(Page page, Size rec_size);
extern void IvfCheckListPage(Relation index, Page page, BlockNumber blk, uint32 steps);
extern void IvfCheckBlock(Relation index, BlockNumber blk, BlockNumber *nblocks);
static inline IvfRec
IvfPageRec(Page page, Size rec_size, int i)
{
	return (IvfRec) ((char *) page + IVF_REC_START + rec_size * i);
}
extern bool IvfPageAppend(Page page, Size rec_size, int recs_per_page, ItemPointer tid,
						  const void *item, Size item_size);

/* ivfkmeans.c */
extern void IvfNormalise(float *v, int dim);
extern void IvfKmeans(const float *data, int n, int dim, int k, bool spherical,
					  float *centroids, uint64 seed);

/* ivfbuild.c */
extern IndexBuildResult *ivfbuild(Relation heap, Relation index, struct IndexInfo *indexInfo);
extern void ivfbuildempty(Relation index);

/* ivfinsert.c */
extern bool ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
					  Relation heap, IndexUniqueCheck checkUnique VEC_AMINSERT_UNCHANGED_ARG,
					  struct IndexInfo *indexInfo);

/* ivfscan.c */
extern IndexScanDesc ivfbeginscan(Relation index, int nkeys, int norderbys);
extern void ivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
extern bool ivfgettuple(IndexScanDesc scan, ScanDirection dir);
extern void ivfendscan(IndexScanDesc scan);

/* ivfvacuum.c */
extern IndexBulkDeleteResult *ivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											IndexBulkDeleteCallback callback, void *callback_state);
extern IndexBulkDeleteResult *ivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);

/* ivfcost.c */
extern void ivfcostestimate(struct PlannerInfo *root, struct IndexPath *path, double loop_count,
							Cost *indexStartupCost, Cost *indexTotalCost,
							Selectivity *indexSelectivity, double *indexCorrelation,
							double *indexPages);

/* ivfflat.c */
extern int	ivf_probes;
extern int	ivf_iterative_scan;
extern int	ivf_max_probes;
extern void IvfInitGUCs(void);
extern Datum ivfflathandler(PG_FUNCTION_ARGS);

/* ivfcheck.c */
extern void IvfCheckIndex(Relation index, VecCheck *c);

#define IvfRelFileNumber(rel)	VecRelFileNumber(rel)

#endif							/* VECTOR_IVFFLAT_H */
