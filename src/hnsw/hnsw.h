/*
 * hnsw.h
 *	  The hnsw index access method: page and record formats, per-operation
 *	  state, and the prototypes of each file.  src/hnsw/README.md explains
 *	  the algorithm, the layout, the locking and the WAL.
 */
#ifndef VECTOR_HNSW_H
#define VECTOR_HNSW_H

#include "compat.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/relcache.h"

#include "typeops.h"
#include "vecindex.h"

/* ---------------------------------------------------------------- limits */

#define HNSW_DEFAULT_M				16
#define HNSW_MIN_M					2
#define HNSW_MAX_M					100
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
#define HNSW_MIN_EF_CONSTRUCTION	4
#define HNSW_MAX_EF_CONSTRUCTION	1000
#define HNSW_DEFAULT_EF_SEARCH		40
#define HNSW_MAX_EF_SEARCH			1000
#define HNSW_MAX_LEVEL				32

/* progress phases, after PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE (1) */
#define HNSW_PHASE_LOAD				2

/* ---------------------------------------------------------------- pages */

/*
 * Page ID in the last two bytes of every page, so that tools such as
 * pg_filedump can tell our pages from other AMs' (core uses 0xFF80-0xFF83
 * and pgvector 0xFF84 and 0xFF90).
 */
#define HNSW_PAGE_ID				0xFF86

#define HNSW_PAGE_META				1
#define HNSW_PAGE_NODE				2
#define HNSW_PAGE_UPPER				3
#define HNSW_PAGE_ITEM				4
#define HNSW_PAGE_CODES				5
#define HNSW_PAGE_TAGS				6
#define HNSW_PAGE_TAGDIR			7

typedef struct HnswPageOpaqueData
{
	uint16		type;			/* HNSW_PAGE_* */
	uint16		flags;			/* metapage: HNSW_META_*; others: none */
	uint16		unused;
	uint16		page_id;		/* HNSW_PAGE_ID */
} HnswPageOpaqueData;

typedef HnswPageOpaqueData *HnswPageOpaque;

#define HnswPageGetOpaque(page) ((HnswPageOpaque) PageGetSpecialPointer(page))

/* Is page one of ours, of this type?  (The layout first: VecPageLayoutIs.) */
static inline bool
HnswPageIs(Page page, uint16 type)
{
	return VecPageLayoutIs(page, sizeof(HnswPageOpaqueData)) &&
		HnswPageGetOpaque(page)->page_id == HNSW_PAGE_ID &&
		HnswPageGetOpaque(page)->type == type;
}

extern void HnswBadPage(Relation index, BlockNumber blk, uint16 type) pg_attribute_noreturn();

/* Error out (XX002) unless block blk's page is an hnsw page of this type. */
static inline void
HnswCheckPage(Relation index, Page page, BlockNumber blk, uint16 type)
{
	if (unlikely(!HnswPageIs(page, type)))
		HnswBadPage(index, blk, type);
}

#define HNSW_METAPAGE_BLKNO			0

/*
 * The insert lock: every insert holds it in share mode, and VACUUM takes it
 * exclusively for a moment to wait out the inserts in progress before it
 * frees node slots (README.md, "Reusing slots").  A heavyweight lock on the
 * object (pg_class, the index, this sub-id), which nothing else takes.  Not
 * a page lock: an insert takes the node-page extension lock (a page lock)
 * while it holds this one, and PostgreSQL allows no other heavyweight lock
 * but the relation extension lock under a page lock.
 */
#define HNSW_INSERT_LOCK_SUBID		0x4857
#define HnswLockInserts(index, mode) \
	LockDatabaseObject(RelationRelationId, RelationGetRelid(index), HNSW_INSERT_LOCK_SUBID, (mode))
#define HnswUnlockInserts(index, mode) \
	UnlockDatabaseObject(RelationRelationId, RelationGetRelid(index), HNSW_INSERT_LOCK_SUBID, (mode))
#define HNSW_MAGIC					0x484E5357	/* "HNSW" */
#define HNSW_FORMAT_VERSION			1
/* node records hold RaBitQ codes (README.md, "Compact codes") */
#define HNSW_FORMAT_CODES			2

/* Node ids are dense uint32; this one means "none". */
#define HNSW_NO_NODE				PG_UINT32_MAX

/*
 * Node pages come in runs of consecutive blocks; node id -> block is
 * arithmetic inside a run.  The build writes one run; inserts extend the
 * last run when nothing else was appended since, else start a new one, and
 * they extend in chunks that grow with the index, so runs stay few.
 */
typedef struct HnswRun
{
	uint32		first_id;		/* id stored in slot 0 of the first page */
	BlockNumber start;			/* first block */
	uint32		npages;			/* blocks in the run */
} HnswRun;

#define HNSW_MAX_RUNS				600

typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		dim;
	uint16		m;
	uint16		ef_construction;
	uint16		metric;			/* VecMetric */
	uint16		nodes_per_page;
	uint32		node_size;		/* bytes per node record */
	uint32		item_size;		/* bytes of the stored item in a record */
	uint32		entry_id;		/* HNSW_NO_NODE while empty */
	int32		entry_level;
	uint32		node_count;		/* ids 0 .. node_count - 1 are allocated */
	uint32		node_capacity;	/* slots in all runs */
	BlockNumber upper_blk;		/* upper page new records go to */
	uint32		nruns;
	HnswRun		runs[FLEXIBLE_ARRAY_MEMBER];
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

#define HnswPageGetMeta(page)	((HnswMetaPage) PageGetContents(page))

/*
 * Metapage flag (in its HnswPageOpaqueData): the type's items are of
 * variable length (sparsevec), so a node record holds an HnswItemRef to
 * its item, which lives out of line on an item page.  Then the metapage
 * carries HnswMetaItemsData after the room for the whole run table, and
 * pd_lower covers it.  Without the flag the metapage is exactly the
 * format vector, halfvec and bit indexes always had.
 */
#define HNSW_META_ITEM_REFS			0x0001

typedef struct HnswMetaItemsData
{
	BlockNumber item_blk;		/* item page new items go to */
	uint32		item_max;		/* most bytes one item takes */
} HnswMetaItemsData;

#define HNSW_META_ITEMS_OFFSET \
	MAXALIGN(offsetof(HnswMetaPageData, runs) + sizeof(HnswRun) * HNSW_MAX_RUNS)
#define HnswMetaItems(meta) \
	((HnswMetaItemsData *) ((char *) (meta) + HNSW_META_ITEMS_OFFSET))

/*
 * Metapage flag: the metapage carries HnswMetaReuseData after
 * HnswMetaItemsData (whether or not items are out of line), and pd_lower
 * covers it.  VACUUM sets it the first time it frees upper records or item
 * tuples; an index that never had it reads as empty lists, since the space
 * was zeros and outside pd_lower until then.
 */
#define HNSW_META_REUSE				0x0002

/*
 * Upper and item pages where VACUUM freed records: when the page new
 * records go to is full, an insert continues on the last page of the list
 * that has room before it adds a page (README.md, "Reusing slots").  The
 * lists fill the rest of the metapage; items (sparsevec) get the longer
 * one, since they are most of such an index.
 */
#define HNSW_REUSE_UPPER			64
#define HNSW_REUSE_ITEM				156

typedef struct HnswMetaReuseData
{
	uint16		nupper;
	uint16		nitem;
	BlockNumber upper[HNSW_REUSE_UPPER];
	BlockNumber item[HNSW_REUSE_ITEM];
} HnswMetaReuseData;

#define HNSW_META_REUSE_OFFSET \
	MAXALIGN(HNSW_META_ITEMS_OFFSET + sizeof(HnswMetaItemsData))
#define HnswMetaReuse(meta) \
	((HnswMetaReuseData *) ((char *) (meta) + HNSW_META_REUSE_OFFSET))

/*
 * Format version 2 (codes): the metapage carries HnswMetaCodesData after
 * HnswMetaReuseData, and pd_lower always covers it (and so the item and
 * reuse parts, zeros until used).  The codec's parameters and the centre
 * the codes are made around live on codes pages (HnswCodesPageData), from
 * codes_blk on, written once by the build; an index built empty has none,
 * and its codes are made around the origin.
 */
typedef struct HnswMetaCodesData
{
	BlockNumber codes_blk;		/* first codes page, or InvalidBlockNumber */
	uint16		bits;			/* bits per coordinate, 1..8 */
	uint16		rerank_bits;	/* of the re-ranking code, bits+1..8; 0: none */
} HnswMetaCodesData;

#define HNSW_META_CODES_OFFSET \
	(HNSW_META_REUSE_OFFSET + sizeof(HnswMetaReuseData))
#define HnswMetaCodes(meta) \
	((HnswMetaCodesData *) ((char *) (meta) + HNSW_META_CODES_OFFSET))

/*
 * Metapage flag: the index has filter columns (hnswfilter.c), and the
 * metapage carries HnswMetaFilterData after HnswMetaCodesData, which
 * pd_lower then covers whatever the format version.  Each node record
 * ends with the filter values of its row (HnswFilterSize of the number of
 * key columns after the vector: the index's definition says how many;
 * the metapage has no room left to repeat it).
 */
#define HNSW_META_FILTERS			0x0004

typedef struct HnswMetaFilterData
{
	BlockNumber tagdir_blk;		/* first tag directory page, or InvalidBlockNumber */
} HnswMetaFilterData;

/*
 * Tag pages: every node's filter values again, densely by node id, so that
 * a scan finds the nodes that match without reading the node pages
 * (hnswfilter.c).  A tag page holds the entries of tags_per_page
 * consecutive ids from a multiple of it, each filter_size bytes as in the
 * node; an entry of zeros was never written (its node is a candidate
 * whatever the filter).  Tag directory pages list the tag pages in order,
 * HNSW_TAGDIR_SLOTS to a page, and chain through next.
 */
typedef struct HnswTagDirData
{
	BlockNumber next;			/* next directory page, or InvalidBlockNumber */
	uint32		n;				/* tag pages listed here */
	BlockNumber blks[FLEXIBLE_ARRAY_MEMBER];
} HnswTagDirData;

#define HNSW_PAGE_ROOM \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(HnswPageOpaqueData)))
#define HNSW_TAGDIR_SLOTS \
	((int) ((HNSW_PAGE_ROOM - offsetof(HnswTagDirData, blks)) / sizeof(BlockNumber)))

#define HNSW_META_FILTER_OFFSET \
	(HNSW_META_CODES_OFFSET + sizeof(HnswMetaCodesData))
#define HnswMetaFilter(meta) \
	((HnswMetaFilterData *) ((char *) (meta) + HNSW_META_FILTER_OFFSET))

StaticAssertDecl(MAXALIGN(SizeOfPageHeaderData) + HNSW_META_FILTER_OFFSET + sizeof(HnswMetaFilterData) <=
				 BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData)),
				 "hnsw metapage does not fit in a page");

/*
 * The first codes page: the rotation's seed and the centre's dim floats,
 * which continue on the pages after it (each page's contents are floats
 * after this header on the first page, from the start on the others).
 */
typedef struct HnswCodesPageData
{
	uint32		magic;			/* HNSW_MAGIC */
	uint32		dim;
	uint64		seed;			/* the rotation's */
	uint32		npages;			/* codes pages in all */
	uint32		nonce;			/* drawn per build: tells builds into one file apart */
	uint32		crc;			/* CRC-32C of the centre's floats */
	uint32		flags;			/* HNSW_CODES_* */
	/* centre floats follow */
} HnswCodesPageData;

/*
 * The build had no rows: the centre is zeros until the first insert sets
 * it to that row (HnswCodesSetCentre); readers take zeros meanwhile.
 */
#define HNSW_CODES_PROVISIONAL		0x0001

/* The seed of every index's rotation (any value would do; it is stored). */
#define HNSW_CODES_SEED				UINT64CONST(0x5241426974510001)

/*
 * Where a variable-length item lives: one tuple on an item page, whose
 * first 4 bytes are the node id (readers check it) and the rest the item,
 * len bytes.  It takes the item's place in the node record (8 bytes).
 */
typedef struct HnswItemRef
{
	BlockNumber blk;
	OffsetNumber off;
	uint16		len;			/* bytes of the item, without the node id */
} HnswItemRef;

#define HNSW_ITEM_TUPLE_HDR			sizeof(uint32)
#define HnswItemTupleSize(len)		(HNSW_ITEM_TUPLE_HDR + (len))

/* Room for tuples on an empty item page, line pointer included. */
#define HNSW_ITEM_PAGE_SPACE \
	(BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(HnswPageOpaqueData)))

/*
 * A node record, at a fixed offset in a node page: header, the stored item
 * (item_size bytes: the vector, normalised for cosine; in format version 2
 * the RaBitQ factors and code, hnswcodes.c), then the level-0 neighbour
 * list (2 * m node ids, nlinks used), then with filter columns the row's
 * filter values (filter_size bytes, hnswfilter.c).  Upper levels live in
 * an HnswUpper record on an upper page, reached through upper_blk/upper_off.
 */
typedef struct HnswNodeData
{
	ItemPointerData heaptid;	/* the heap row */
	uint8		level;			/* highest layer the node is on */
	uint8		flags;			/* HNSW_NODE_* */
	uint16		nlinks;			/* level-0 neighbours in use */
	uint16		upper_off;		/* upper record, when level > 0 */
	BlockNumber upper_blk;
	uint32		dup_next;		/* next node of the duplicate chain */
} HnswNodeData;

typedef HnswNodeData *HnswNode;

#define HNSW_NODE_DELETED			0x01	/* heap row is gone; skip in results */
#define HNSW_NODE_DUP				0x02	/* in a duplicate chain, not in the graph */
#define HNSW_NODE_FREE				0x04	/* with DELETED: the slot may be reused */
/*
 * With DELETED and DUP: VACUUM unlinked the member from its chain (or moved
 * its row into the head); the first level-0 list slot, unused by a
 * duplicate, holds that head, whose page interlocks the freeing of the
 * slot with scans walking the chain (README.md, "Reusing slots").
 */
#define HNSW_NODE_ORPHAN			0x08

#define HNSW_NODE_START		MAXALIGN(SizeOfPageHeaderData)
#define HnswNodeItem(node)	((char *) (node) + sizeof(HnswNodeData))
#define HnswNodeLinks(node, itemsize) \
	((uint32 *) ((char *) (node) + sizeof(HnswNodeData) + (itemsize)))
#define HnswNodeFilter(node, st) \
	((uint32 *) ((char *) (node) + sizeof(HnswNodeData) + (st)->item_size + \
				 sizeof(uint32) * 2 * (st)->m))

/*
 * A chained duplicate's stamp, in slots 1 and 2 of its unused level-0 list:
 * when it joined its chain (the WAL insert position then; 1 for the
 * build's members, 0 in indexes made before stamps).  New members go right
 * after the head, so stamps never rise along a chain.  A scan walking a
 * chain stops at a member whose stamp is higher than the one before: that
 * slot was freed and taken since the scan read the link to it.  On a
 * primary, VACUUM's cleanup lock keeps that from happening; a hot standby
 * replays the freeing whatever its scans pin (README.md, "Reusing slots").
 */
#define HNSW_STAMP_BUILD			UINT64CONST(1)

static inline uint64
HnswDupStamp(HnswNode node, Size item_size)
{
	const uint32 *l = HnswNodeLinks(node, item_size);

	return ((uint64) l[1] << 32) | l[2];
}

static inline void
HnswSetDupStamp(HnswNode node, Size item_size, uint64 stamp)
{
	uint32	   *l = HnswNodeLinks(node, item_size);

	l[1] = (uint32) (stamp >> 32);
	l[2] = (uint32) stamp;
}

/* Upper record: for each level 1..nlevels, a count and m links. */
typedef struct HnswUpperData
{
	uint32		node_id;
	uint16		nlevels;
	uint16		unused;
	/* nlevels x HnswUpperLevel follow */
} HnswUpperData;

typedef struct HnswUpperLevel
{
	uint16		count;
	uint16		unused;
	uint32		links[FLEXIBLE_ARRAY_MEMBER];	/* m */
} HnswUpperLevel;

#define HnswUpperLevelSize(m)	(offsetof(HnswUpperLevel, links) + sizeof(uint32) * (m))
#define HnswUpperSize(m, nlevels) (sizeof(HnswUpperData) + HnswUpperLevelSize(m) * (nlevels))
#define HnswUpperGetLevel(rec, m, level) \
	((HnswUpperLevel *) ((char *) (rec) + sizeof(HnswUpperData) + HnswUpperLevelSize(m) * ((level) - 1)))

/* ---------------------------------------------------------------- options */

typedef struct HnswOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			m;
	int			ef_construction;
	int			bits;			/* 0: floats (codes when they do not fit) */
	int			rerank_bits;	/* 0: none; else a finer code beside the walk's */
} HnswOptions;

#define HNSW_MAX_BITS				8
/* most dimensions of an index with codes (RBQ_MAX_DIM) */
#define VEC_HNSW_MAX_CODES_DIM		16000

/* ---------------------------------------------------------------- state */

/*
 * What every operation needs about an index: the type and metric from the
 * opclass, the record geometry, and a snapshot of the metapage.  Filled by
 * HnswInitState; the metapage part again by HnswLoadMeta.
 */
typedef struct HnswState
{
	Relation	index;
	const VecTypeOps *ops;
	VecMetric	metric;
	VecDistanceFn dist;			/* between graph items (HnswDist) */
	int			dim;
	int			gdim;			/* elements of a graph item: dim, or padded with codes */
	int			bits;			/* 0: format 1; else codes of this many bits */
	int			rerank_bits;	/* with codes: of the re-ranking code (0: none) */
	BlockNumber codes_blk;		/* with codes: the metapage's (HnswMetaCodesData) */
	struct HnswCodes *codes;	/* with codes: the codec, loaded on first use (hnswcodes.c) */
	int			m;
	int			ef_construction;
	Size		item_size;		/* bytes of the item field of a node record */
	Size		walk_size;		/* its first bytes, what a walk scores (all but a re-ranking code) */
	Size		item_max;		/* most bytes one item takes (buffer size) */
	bool		item_refs;		/* items out of line: item_size is an HnswItemRef */
	Size		node_size;
	int			nodes_per_page;
	/* filter columns: key columns 2.. of the index (hnswfilter.c) */
	int			nfilters;
	int			filter_words;	/* 32-bit words of their values */
	Size		filter_size;	/* 0 without filter columns */
	BlockNumber tagdir_blk;		/* the metapage's (HnswMetaFilterData) */
	uint8		filter_kind[INDEX_MAX_KEYS];	/* HNSW_FILTER_* */
	uint8		filter_word[INDEX_MAX_KEYS];	/* its first word (values[1 + it]) */
	Oid			filter_type[INDEX_MAX_KEYS];	/* the opclass's input type */
	Oid			filter_coll[INDEX_MAX_KEYS];

	/* metapage snapshot */
	uint32		entry_id;
	int			entry_level;
	uint32		node_count;
	uint32		node_capacity;
	int			nruns;
	HnswRun		runs[HNSW_MAX_RUNS];
} HnswState;

/*
 * Candidates an insert considers on a level: ef_construction, twice that on
 * the upper levels.  They hold a 1/m share of the nodes and carry the links
 * between far-apart regions; the wider beam costs 5% of the build on
 * sift-128 and, on 100 far-apart clusters, cut the self-lookups that miss
 * at ef_search 100 from 4.9% to 1.8%.
 */
static inline int
HnswEfConstruction(const HnswState *st, int level)
{
	return level > 0 ? 2 * st->ef_construction : st->ef_construction;
}

/*
 * The distance the graph works with: NaN (an inner product whose terms
 * overflow both ways, for instance) becomes +infinity, so that it sorts
 * last, as the SQL operator's NaN does in a sort, and never sits in a heap
 * where every comparison with it is false (a NaN at the top of the results
 * let no other node in).
 */
static inline float
HnswDist(const HnswState *st, const void *a, const void *b)
{
	float		d = st->dist(a, b, st->gdim);

	return isnan(d) ? get_float4_infinity() : d;
}

/* Links a node may keep on a level. */
static inline int
HnswMaxLinks(int m, int level)
{
	return level == 0 ? 2 * m : m;
}

/* ---------------------------------------------------------------- search */

/*
 * A scored node: distance to the query, id, heap TID, its duplicate chain,
 * and whether it is deleted: self_dead when its own row is gone, deleted
 * when moreover no duplicate hangs off it (then it only serves traversal).
 */
typedef struct HnswCand
{
	float		dist;
	uint32		id;
	uint32		dup_next;
	ItemPointerData tid;
	uint8		deleted;
	uint8		self_dead;
	uint8		level;			/* the node's level (HNSW_LEVEL_ANY: not told) */
	uint8		nomatch;		/* the scan's filter rejects it: it only routes */
	float		lower;			/* with codes: a bound dist never exceeds (hnswcodes.c) */
} HnswCand;

/*
 * HnswCand.level of a source whose lists hold only nodes of their level
 * (the build's graph in memory).  On disk a flagged node's lists are no
 * longer kept, and may name a slot freed and taken since by a node of a
 * lower level; searches above layer 0 skip such a node (HnswCandOnLevel).
 */
#define HNSW_LEVEL_ANY		0xFF

static inline bool
HnswCandOnLevel(const HnswCand *c, int level)
{
	return c->level >= level;
}

/* Binary heap of candidates, min-first or max-first. */
typedef struct HnswHeap
{
	HnswCand   *items;
	int			n;
	int			cap;
	bool		max;
} HnswHeap;

/* Set of visited node ids. */
typedef struct HnswVisited
{
	/* dense mode: one stamp per id (in-memory build) */
	uint32	   *stamps;
	uint32		epoch;
	uint32		nstamps;
	/* hash mode: open addressing over ids + 1 (0 = empty) */
	uint32	   *slots;
	uint32		mask;
	uint32		used;			/* ids added (hash and bit modes) */
	/* bit mode: one bit per id (a filtered scan's walk) */
	uint64	   *bits;
	uint32		nbits;
} HnswVisited;

/*
 * How the search reaches the graph: in memory during the build, through
 * the buffer manager otherwise.
 */
typedef struct HnswSource HnswSource;
struct HnswSource
{
	/* copy the links of id on level into out; returns how many */
	int			(*links) (HnswSource *src, uint32 id, int level, uint32 *out);
	/* score ids[0..n) against query into cands[0..n) */
	void		(*score) (HnswSource *src, const void *query, const uint32 *ids,
						  int n, HnswCand *cands);
	/* optional: start loading the links of id on level (a cache hint) */
	void		(*prefetch) (HnswSource *src, uint32 id, int level);
	/*
	 * id's stored item: a pointer the source keeps valid, or buf
	 * (item_max bytes) filled with a copy.  NULL: HnswSourceItem reads
	 * it from the pages.
	 */
	const char *(*item) (HnswSource *src, uint32 id, char *buf);
	/*
	 * Optional, for a source that copies the lists (VACUUM's,
	 * hnswvaccache.c): id's list on level was written as links[0..n), or
	 * was found changed on its page (a failed compare-and-swap), so the
	 * copy must be read again.
	 */
	void		(*wrote) (HnswSource *src, uint32 id, int level, const uint32 *links, int n);
	void		(*stale) (HnswSource *src, uint32 id, int level);
	HnswState  *state;
	/* a scan's filter (hnswfilter.c): score sets nomatch by it; NULL: none */
	const struct HnswFilter *filter;
	/*
	 * With a filter, the ids that may match (from the tag pages), ids at or
	 * past nmay all may: layer 0 scores only them, and reaches the others'
	 * neighbours through them (HnswSearchLayer).  NULL: every node may.
	 */
	const uint8 *may;
	uint32		nmay;
	/*
	 * With codes, a scored node whose estimate is at or beyond this gets
	 * no lower bound of its own (HnswScoreRecords): HnswSearchLayer sets
	 * it to the farthest result's when results are full and nothing is
	 * kept for later.  Infinity: every node gets its bound.
	 */
	float		lower_cut;
};


/*
 * A reachability walk: breadth first over every level's links and down the
 * duplicate chains, from one or more starting nodes.  The build's repair,
 * VACUUM's repair and vector_index_check() all use it, each with arrays of
 * the nodes' levels and chain links it has gathered.  Ids at or above n (a
 * damaged or newer list) are not followed.
 */
#define HNSW_WALK_DUP				0xFF	/* level of a chained duplicate (no lists) */

typedef struct HnswWalk
{
	HnswSource *src;			/* the links */
	uint32		n;
	const uint8 *levels;		/* each node's level, or HNSW_WALK_DUP */
	const uint32 *dup_next;		/* the next member of the chain hanging off each node */
	/* optional: each link followed (id's on level, to nb < n) */
	void		(*on_link) (void *arg, uint32 id, int level, uint32 nb);
	/* optional: called every 1,024 nodes (VACUUM's delay point); else interrupts */
	void		(*pause) (void);
	void	   *arg;
	bool		layer0;			/* follow layer-0 links only */
	uint8	   *reached;		/* n flags */
	/* optional: n ids, each node's tree parent (the node whose link first reached it) */
	uint32	   *parent;
	uint32	   *queue;			/* n ids of scratch */
	uint32		links[2 * HNSW_MAX_M];
} HnswWalk;

/*
 * How one insert reaches the graph it goes into (HnswInsertNode).  The
 * in-memory build and the on-disk insert run the same steps; they differ
 * in where items and lists live, in how a duplicate joins a chain, and in
 * how a back-link treats a full list (README.md, section 1, item 2, has
 * the measured reason for each policy).
 */
typedef struct HnswInserter HnswInserter;
struct HnswInserter
{
	HnswSource *src;
	HnswState  *st;
	void	   *arg;
	/* what the searches score against; NULL: the item (with codes, a prepared query) */
	const void *query;
	/* optional: is id's stored record the new node's (a duplicate)?  NULL: compare items */
	bool		(*same) (HnswInserter *ins, uint32 id);
	/*
	 * With filter columns: the new node's filter values, and id's (a
	 * pointer into the graph, or a copy in buf): a duplicate chain holds
	 * rows of one filter value only, since the scan tests the head's.
	 */
	const uint32 *filter;
	const uint32 *(*filter_of) (HnswInserter *ins, uint32 id, uint32 *buf);
	/* id's stored item: a pointer into the graph, or a copy made in buf */
	const char *(*item) (HnswInserter *ins, uint32 id, char *buf);
	/* hang id into head's duplicate chain, in place of linking it */
	void		(*chain) (HnswInserter *ins, uint32 head, uint32 id);
	/* write id's own list on level */
	void		(*write_list) (HnswInserter *ins, uint32 id, int level,
							   const uint32 *links, int n);
	/*
	 * link back to id from each of sel[0..nsel) on level (nsel > 0); the
	 * first nheur are the heuristic's choices, the rest its fill.  When no
	 * back-link survives, force one into sel[0]'s list (HnswKeepLink), so
	 * that id is never left without a way in.
	 */
	void		(*back_links) (HnswInserter *ins, uint32 id, int level, const void *item,
							   const uint32 *sel, int nsel, int nheur);
	/*
	 * A level-0 node's search starts layer 0 from the seed_ef nearest
	 * level-1 nodes, not from one greedy path's end (HnswInsertNode says
	 * why); 0 walks the paper's single path.
	 */
	int			seed_ef;
	/* search scratch, reused from insert to insert */
	HnswVisited *visited;
	HnswHeap   *cands;
	HnswHeap   *results;
	HnswCand   *w;				/* ef_construction + 1 each */
	const char **witems;
	char	   *wdata;			/* item_max each, for copies */
};

/* hnswgraph.c */
extern void HnswInserterScratch(HnswInserter *ins);
extern bool HnswInsertNode(HnswInserter *ins, uint32 id, const void *item, int level,
						   uint32 entry, int entry_level);
extern void HnswWalkInit(HnswWalk *w, HnswSource *src, uint32 n, const uint8 *levels,
						 const uint32 *dup_next, void *arg);
extern void HnswWalkFrom(HnswWalk *w, uint32 start);
extern void HnswWalkReset(HnswWalk *w);
extern void HnswWalkFree(HnswWalk *w);
extern int	HnswRepairVictim(uint32 base, const uint32 *links, const float *dist, int n,
							 const uint32 *parent, uint32 nnodes);
extern void HnswHeapInit(HnswHeap *h, int cap, bool max);
extern void HnswHeapPush(HnswHeap *h, const HnswCand *c);
extern HnswCand HnswHeapPop(HnswHeap *h);
static inline const HnswCand *
HnswHeapTop(const HnswHeap *h)
{
	return h->n > 0 ? &h->items[0] : NULL;
}
extern void HnswVisitedInitDense(HnswVisited *v, uint32 n);
extern void HnswVisitedInitHash(HnswVisited *v, uint32 expected);
extern void HnswVisitedInitBits(HnswVisited *v, uint32 n);
extern void HnswVisitedReset(HnswVisited *v);
extern bool HnswVisitedAdd(HnswVisited *v, uint32 id);
extern Size HnswVisitedMemory(const HnswVisited *v);
extern void HnswSearchLayer(HnswSource *src, const void *query, HnswHeap *cands,
							HnswHeap *results, int ef, int level, HnswVisited *visited,
							HnswHeap *discarded);
extern HnswCand HnswGreedyDescend(HnswSource *src, const void *query, uint32 entry,
								  int from_level, int to_level);
extern int	HnswSelectNeighbours(HnswState *st, HnswCand *cands, int n,
								 const char *const *items, int maxlinks, int fill, uint32 *out);
extern void HnswSeedSearch(HnswSource *src, const void *query, uint32 entry, int entry_level,
						   int upper_ef, HnswHeap *cands, HnswHeap *results, int ef,
						   HnswVisited *visited, HnswHeap *discarded);
extern bool HnswHasLink(const uint32 *links, int n, uint32 id);
extern int	HnswKeepLink(uint32 *links, int n, int maxlinks, uint32 id, bool force);
extern int	HnswRandomLevel(int m, double r);
extern int	HnswCandCompare(const void *a, const void *b);
extern void HnswSortCands(HnswCand *cands, int n, uint32 base);

/* hnswpage.c */
extern void HnswInitState(HnswState *st, Relation index);
extern void HnswLoadMeta(HnswState *st);
extern void HnswInitPage(Page page, uint16 type);
extern void HnswLocateNode(HnswState *st, uint32 id, BlockNumber *blk, int *slot);
extern bool HnswFindNode(const HnswState *st, uint32 id, BlockNumber *blk, int *slot);
static inline HnswNode
HnswPageNode(Page page, const HnswState *st, int slot)
{
	return (HnswNode) ((char *) page + HNSW_NODE_START + st->node_size * slot);
}
/* Position of a walk over all node pages, in id order; start zeroed. */
typedef struct HnswPageIter
{
	int			run;
	uint32		page;
} HnswPageIter;
extern bool HnswNextNodePage(const HnswState *st, HnswPageIter *it, BlockNumber *blk,
							 uint32 *first, uint32 *nslots);
extern void HnswCopySnapshot(HnswState *st, HnswMetaPage meta);
extern void HnswFillMeta(HnswState *st, Page page);
extern void HnswSetMetaLower(Page page);
extern HnswUpperData *HnswUpperRecord(HnswState *st, Page page, BlockNumber blk,
									  OffsetNumber off, uint32 id);
extern const char *HnswItemTupleData(const HnswState *st, Page page, uint32 id,
									 const HnswItemRef *ref);

/* Bytes of one item: the fixed size, or what the item says it has. */
static inline Size
HnswItemLen(const HnswState *st, const void *item)
{
	return st->item_refs ? st->ops->item_len(item) : st->item_size;
}

/* Are two items the same bytes (a duplicate)? */
static inline bool
HnswSameItem(const HnswState *st, const void *a, const void *b)
{
	Size		len = HnswItemLen(st, a);

	return (!st->item_refs || HnswItemLen(st, b) == len) && memcmp(a, b, len) == 0;
}
extern uint32 HnswMaxNodes(const HnswState *st);
extern int	HnswMaxRuns(void);
extern bool HnswPageFirstId(const HnswState *st, BlockNumber blk, uint32 *first);

/*
 * What the free space map is told of a node page with nfree free slots.
 * The map keeps space in steps of BLCKSZ / 256 bytes, rounding what a page
 * has down and what a request needs up: one slot is recorded as a step
 * more, else a page with a single free slot would never be found.
 */
static inline Size
HnswFreeSlotSpace(const HnswState *st, uint32 nfree)
{
	return nfree == 0 ? 0 : Min(nfree * st->node_size + BLCKSZ / 256, BLCKSZ - 1);
}
extern void HnswTooManyNodes(const HnswState *st) pg_attribute_noreturn();
extern void HnswTestDelay(int ms);
extern int	HnswNodesPerPage(Size node_size);
extern Size HnswNodeSize(Size item_size, int m, Size filter_size);

/* hnswbuf.c */
extern Buffer HnswReadBuffer(Relation index, BlockNumber blk);
extern char *HnswPrefetchPage(Relation index, BlockNumber blk);

/* start loading the cache lines of len bytes at p */
static inline void
HnswPrefetchBytes(const char *p, Size len)
{
	for (Size o = 0; o < len; o += 64)
		__builtin_prefetch(p + o);
	__builtin_prefetch(p + len - 1);
}

/* hnswdisk.c: graph access through the buffer manager */
extern void HnswDiskSourceInit(HnswSource *src, HnswState *st);
extern int	HnswReadUpperLinks(HnswState *st, uint32 id, BlockNumber blk, OffsetNumber off,
							   int level, uint32 *out);
extern void HnswReadItem(HnswState *st, uint32 id, void *dst);
extern void HnswReadItemRef(HnswState *st, uint32 id, const HnswItemRef *ref, void *dst);
extern void HnswDiskRerank(HnswState *st, void *query, HnswCand *cands, int n);

/* hnswcodes.c */
extern Size HnswCodesRecordSize(int dim, int bits, int rerank_bits);
extern int	HnswChooseBits(const VecTypeOps *ops, VecMetric metric, int dim, int m, int bits);
extern int	HnswChooseRerankBits(int dim, int m, Size filter_size, int bits,
								 int rerank_bits, bool chosen);
extern void HnswSetCodesGeometry(HnswState *st, int bits, int rerank_bits);
extern void HnswSetFloatGeometry(HnswState *st);
extern struct HnswCodes *HnswCodesGet(HnswState *st);
extern void HnswEncode(HnswState *st, const void *item, char *record);
extern void HnswDecode(HnswState *st, const char *record, float *gitem);
extern const char *HnswSourceCodeItem(HnswSource *src, uint32 id, char *buf);
extern void *HnswQueryAlloc(HnswState *st);
extern char *HnswCodesBatch(HnswState *st);
extern const void *HnswItemQuery(HnswState *st, const void *gitem, void *qbuf);
extern void HnswPrepareQuery(HnswState *st, const void *item, bool bounds, void *qbuf);

/* what scoring puts in HnswCand.lower */
#define HNSW_BOUNDS_NONE		0	/* the estimate: a walk only */
#define HNSW_BOUNDS_EXACT		1	/* a bound that always holds */
#define HNSW_BOUNDS_PROBABLE	2	/* the estimate less some standard errors */
extern void HnswQueryBounds(void *query, int bounds);
/* below this, the estimate's error is too far from normal (hnswscan.c) */
#define HNSW_PROBABLE_MIN_DIM	512
extern void HnswScoreRecords(HnswState *st, const void *query, const char **records,
							 int n, HnswCand *cands, float cut);
extern void HnswRerankRecords(HnswState *st, void *query, const char **records,
							  int n, HnswCand *cands);
extern BlockNumber HnswWriteCodesPages(HnswState *st, const float *centre, bool provisional);
extern bool HnswCodesProvisional(HnswState *st);
extern void HnswCodesSetCentre(HnswState *st, const void *item);
extern bool HnswCodesStale(HnswState *st);
extern void HnswCodesInit(HnswState *st, const float *centre);
extern Size HnswBundleSize(const HnswState *cst);
extern const char *HnswBundleRecord(const void *bundle);
extern void HnswMakeBundle(HnswState *cst, const void *item, char *bundle);
extern float HnswBundleDist(const void *a, const void *b, int dim);
extern const void *HnswBundleQuery(HnswState *cst, const void *bundle, void *qbuf);
extern void HnswItemFloats(HnswState *st, const void *item, float *out);

/*
 * id's item through src, as the graph's distances take it: the stored item,
 * or with codes the vector its code stands for (HnswDecode).  See
 * HnswSource.item.
 */
static inline const char *
HnswSourceItem(HnswSource *src, uint32 id, char *buf)
{
	if (unlikely(src->state->bits != 0))
		return HnswSourceCodeItem(src, id, buf);
	if (src->item)
		return src->item(src, id, buf);
	HnswReadItem(src->state, id, buf);
	return buf;
}

/* Tell a copying source what a list now is, or that it changed: see HnswSource.wrote */
static inline void
HnswSourceWrote(HnswSource *src, uint32 id, int level, const uint32 *links, int n)
{
	if (src->wrote)
		src->wrote(src, id, level, links, n);
}

static inline void
HnswSourceStale(HnswSource *src, uint32 id, int level)
{
	if (src->stale)
		src->stale(src, id, level);
}

/*
 * A scored candidate's header fields, from its node record (or a copy of
 * its header).  A chained duplicate is in no live list; one is met only
 * through a stale id (a flagged node's list naming a slot freed and taken
 * since), and then its row is newer than the search and its chain is
 * another head's, whose older rows that head returns: neither is this
 * candidate's.
 */
static inline void
HnswFillCand(HnswCand *c, uint32 id, const HnswNodeData *node)
{
	bool		dup = (node->flags & HNSW_NODE_DUP) != 0;

	c->id = id;
	c->tid = node->heaptid;
	c->dup_next = dup ? HNSW_NO_NODE : node->dup_next;
	c->self_dead = dup || (node->flags & HNSW_NODE_DELETED) != 0;
	c->deleted = c->self_dead && c->dup_next == HNSW_NO_NODE;
	c->level = node->level;
	c->nomatch = 0;
}
extern void HnswReadHeader(HnswState *st, uint32 id, HnswNodeData *dst);
extern uint64 HnswReadMember(HnswState *st, uint32 id, HnswNodeData *dst);
extern HnswNode HnswLockNode(HnswState *st, uint32 id, int mode, Buffer *buf);

/* hnswinsert.c */
extern bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
					   Relation heap, IndexUniqueCheck checkUnique VEC_AMINSERT_UNCHANGED_ARG,
					   struct IndexInfo *indexInfo);
extern void HnswInsertItem(HnswState *st, const void *item, const uint32 *filter,
						   ItemPointer tid, int level);

/* hnswlinks.c: list editing, for inserts and VACUUM */
/*
 * The node back-links are being added for, as the new home of the members
 * they push out of full lists (HnswAddBackLink): its list on the level as
 * last written, of which the first nfixed stay (its heuristic choices and
 * the members it took in); the rest, its fill, make room.
 */
typedef struct HnswHome
{
	uint32		id;
	int			n;
	int			nfixed;			/* links[0 .. nfixed) are not dropped for a fill */
	int			nown;			/* links[0 .. nown): the node's own choices */
	uint32		links[2 * HNSW_MAX_M];
} HnswHome;

extern void HnswWriteList(HnswState *st, uint32 id, int level, const uint32 *links, int n);
extern bool HnswAddBackLink(HnswState *st, HnswSource *src, uint32 base, uint32 id,
							int level, const void *newitem, bool force, HnswHome *home);
extern bool HnswReplaceList(HnswState *st, uint32 id, int level, const uint32 *expected,
							int nexpected, const uint32 *links, int n);

/* hnswbuild.c */
extern IndexBuildResult *hnswbuild(Relation heap, Relation index, struct IndexInfo *indexInfo);
extern void hnswbuildempty(Relation index);

/* hnswscan.c */
extern IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
extern void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
extern bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnswendscan(IndexScanDesc scan);

/* hnswvacuum.c */
extern IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback, void *callback_state);
extern IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);

/* hnswcost.c */
extern void hnswcostestimate(struct PlannerInfo *root, struct IndexPath *path, double loop_count,
							 Cost *indexStartupCost, Cost *indexTotalCost,
							 Selectivity *indexSelectivity, double *indexCorrelation,
							 double *indexPages);

/* hnsw.c */
extern int	hnsw_ef_search;
extern int	hnsw_test_upper_ef;
extern double hnsw_probable_sigmas;
extern int	hnsw_test_level_seed;
extern int	hnsw_iterative_scan;
extern int	hnsw_max_scan_tuples;
extern double hnsw_scan_mem_multiplier;
extern int	hnsw_test_max_nodes;
extern int	hnsw_test_max_runs;
extern int	hnsw_test_extend_delay;
extern void HnswInitGUCs(void);
extern Datum hnswhandler(PG_FUNCTION_ARGS);

/* hnswfilter.c: filter columns */
#define HNSW_FILTER_INT32			1	/* int2, int4: the value itself */
#define HNSW_FILTER_INT64			2	/* int8: a hash */
#define HNSW_FILTER_BOOL			3	/* 0 or 1 */
#define HNSW_FILTER_TEXT			4	/* a hash under the column's collation */
#define HNSW_FILTER_UUID			5	/* a hash */
#define HNSW_FILTER_ARRAY			6	/* a 64-bit signature (two words) */

/*
 * The filter opclasses' strategies: = on a scalar, && and @> on an array
 * (numbered as GiST's are).
 */
#define HNSW_STRATEGY_EQUAL			1
#define HNSW_STRATEGY_OVERLAP		3
#define HNSW_STRATEGY_CONTAINS		7

/* How a key tests a stored value v against its vals or masks */
#define HNSW_KEY_IN					0	/* v is one of vals (sorted) */
#define HNSW_KEY_ALL				1	/* signature v has every bit of masks[0] */
#define HNSW_KEY_ANY				2	/* v has every bit of some masks[i] */

typedef struct HnswFilterKey
{
	int			col;			/* filter column: index column col + 2 */
	int			word;			/* its value: values[1 + word] (and the next) */
	int			test;			/* HNSW_KEY_* */
	int			nvals;
	uint32	   *vals;			/* HNSW_KEY_IN: values, sorted, distinct */
	uint64	   *masks;			/* else: signature bits */
} HnswFilterKey;

/* The array signature whose first word is values[1 + word] */
static inline uint64
HnswSignature(const uint32 *values, int word)
{
	return values[1 + word] | ((uint64) values[2 + word] << 32);
}

/* A scan's conditions on filter columns (HnswFilterFromKeys) */
typedef struct HnswFilter
{
	bool		empty;			/* no row can match: a NULL, an empty IN list or && */
	bool		lossy;			/* some key compares hashes or signatures */
	bool		signatures;		/* some key tests array signatures */
	int			nkeys;
	HnswFilterKey keys[FLEXIBLE_ARRAY_MEMBER];
} HnswFilter;

/* Do a node's filter values (HnswNodeFilter, or a tag entry) pass every key? */
static inline bool
HnswFilterMatch(const HnswFilter *f, const uint32 *values)
{
	for (int k = 0; k < f->nkeys; k++)
	{
		const HnswFilterKey *fk = &f->keys[k];
		uint32		v;
		int			lo = 0;
		int			hi = fk->nvals - 1;

		if (values[0] & ((uint32) 1 << fk->col))
			return false;
		if (fk->test != HNSW_KEY_IN)
		{
			uint64		sig = HnswSignature(values, fk->word);

			/* HNSW_KEY_ALL has one mask */
			while (lo <= hi && (sig & fk->masks[lo]) != fk->masks[lo])
				lo++;
			if (lo > hi)
				return false;
			continue;
		}
		v = values[1 + fk->word];
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (fk->vals[mid] < v)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (fk->vals[lo] != v)
			return false;
	}
	return true;
}
extern void HnswFilterInitState(HnswState *st, Relation index);
extern Size HnswFilterSize(int words);
extern void HnswFilterForm(const HnswState *st, const Datum *values, const bool *isnull,
						   uint32 *out);
extern HnswFilter *HnswFilterFromKeys(const HnswState *st, ScanKey keys, int nkeys);
extern void HnswReadFilter(HnswState *st, uint32 id, uint32 *dst);
extern int	HnswTagsPerPage(const HnswState *st);
extern void HnswTagsEnsure(HnswState *st, uint32 nids);
extern void HnswTagSet(HnswState *st, uint32 id, const uint32 *filter);
extern BlockNumber HnswWriteTagPages(HnswState *st, uint32 n, const uint32 *(*entry) (void *arg, uint32 id),
									 void *arg);
extern void HnswCheckTags(HnswState *st, VecCheck *c, const uint8 *flags, const char *filters);
extern uint32 HnswFilterCandidates(HnswState *st, const HnswFilter *f, uint8 *may,
								   uint32 *ids, uint32 maxids);

/*
 * Most filter columns, and most words of their values (an array takes
 * two): a tag page must hold 64 ids (a word of its bitmaps) of 4 bytes per
 * word and a bit per column (HnswTagsPerPage).
 */
#define HNSW_MAX_FILTERS			30

/* a filter area's mask word has this bit once the values are written */
#define HNSW_FILTER_WRITTEN			0x80000000

static inline bool
HnswMayMatch(const HnswSource *src, uint32 id)
{
	return src->may == NULL || id >= src->nmay || (src->may[id >> 3] & (1 << (id & 7))) != 0;
}

/* hnswrow.c */
typedef struct HnswRowReader HnswRowReader;
extern HnswRowReader *HnswRowBegin(Relation heap, Relation index, Snapshot snapshot);
extern bool HnswRowRead(HnswRowReader *r, const ItemPointerData *tid, Datum *values,
						bool *isnull);
extern MemoryContext HnswRowContext(HnswRowReader *r);
extern void HnswRowEnd(HnswRowReader *r);

/* hnswcheck.c */
extern void HnswCheckIndex(Relation index, VecCheck *c);

#define HNSW_ITERATIVE_OFF			0
#define HNSW_ITERATIVE_RELAXED		1
#define HNSW_ITERATIVE_STRICT		2

#endif							/* VECTOR_HNSW_H */
