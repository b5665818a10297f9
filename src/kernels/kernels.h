/*
 * kernels.h
 *	  The one table of distance kernels, shared by every type and index.
 *
 * Every caller (SQL functions, HNSW, IVFFlat, k-means) reaches the kernels
 * through the table pointed to by vk_active, which vk_init() fills once when
 * the library loads, from CPU detection (CPUID + XGETBV on x86-64; on
 * AArch64, NEON is part of the base architecture and always chosen).  No
 * code outside src/kernels/ includes an intrinsics header, and no file is
 * built with -march=native: each x86 ISA file gets its own -m flags from the
 * Makefile, so a binary built anywhere runs on any x86-64 and uses the
 * widest unit there; the NEON file needs no flag on AArch64.
 *
 * This module does not depend on PostgreSQL headers, so that the kernel test
 * (test/kernels) and the micro-benchmark (bench/) can link it directly.
 *
 * Conventions: lengths are element counts (n >= 0; n == 0 returns 0); inputs
 * need no particular alignment; float kernels accumulate in float, in lanes.
 * Negative inner product and cosine are built by the callers from these
 * entries (see vk_cosine_distance in kernels.c).
 */
#ifndef VECTOR_KERNELS_H
#define VECTOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum VkLevel
{
	VK_LEVEL_SCALAR = 0,		/* portable C, also the test oracle */
	VK_LEVEL_AVX2 = 1,			/* x86-64 AVX2 + FMA + F16C */
	VK_LEVEL_AVX512 = 2,		/* x86-64 AVX-512F (+VPOPCNTDQ for bits) */
	VK_LEVEL_NEON = 3			/* AArch64 Advanced SIMD (always present there) */
} VkLevel;

typedef struct VectorKernels
{
	const char *name;			/* "scalar", "avx2", "avx512", "neon" */
	VkLevel		level;

	/* float4 elements */
	float		(*f32_l2sq) (const float *a, const float *b, int n);
	float		(*f32_dot) (const float *a, const float *b, int n);
	float		(*f32_l1) (const float *a, const float *b, int n);
	/* one pass: *dot = a.b, *aa = a.a, *bb = b.b */
	void		(*f32_dot_norms) (const float *a, const float *b, int n,
								  float *dot, float *aa, float *bb);
	float		(*f32_norm_sq) (const float *a, int n);

	/*
	 * Batches: one query against count items, item i at items[i].  Serves an
	 * HNSW neighbour list or an IVF list in one call.
	 */
	void		(*f32_l2sq_batch) (const float *q, const float *const *items,
								   int count, int n, float *out);
	void		(*f32_dot_batch) (const float *q, const float *const *items,
								  int count, int n, float *out);

	/*
	 * One query against count rows of a row-major matrix, row i at
	 * rows + i * stride: the dot products, several rows per pass over the
	 * query, for scoring a whole centroid table or k-means sample.  Unlike
	 * the batches, results may differ from f32_dot in the last bits (a
	 * different order of summation).
	 */
	void		(*f32_dot_rows) (const float *q, const float *rows, size_t stride,
								 int count, int n, float *out);

	/* bit strings, nbytes bytes each */
	uint64_t	(*bit_hamming) (const uint8_t *a, const uint8_t *b, int nbytes);
	/* *inter = popcount(a & b), *uni = popcount(a | b) */
	void		(*bit_and_or_count) (const uint8_t *a, const uint8_t *b, int nbytes,
									 uint64_t *inter, uint64_t *uni);

	/*
	 * binary16 ("half") elements, given as their uint16_t bit patterns.
	 * Conversion of n values: f16_to_f32 is exact; f32_to_f16 rounds to
	 * nearest even, overflowing to infinity (callers check).  Distances
	 * read the halves directly and accumulate in float, like the float4
	 * entries; the batches equal the single entries bit for bit.
	 */
	void		(*f16_to_f32) (const uint16_t *in, float *out, int n);
	void		(*f32_to_f16) (const float *in, uint16_t *out, int n);
	float		(*f16_l2sq) (const uint16_t *a, const uint16_t *b, int n);
	float		(*f16_dot) (const uint16_t *a, const uint16_t *b, int n);
	float		(*f16_l1) (const uint16_t *a, const uint16_t *b, int n);
	void		(*f16_dot_norms) (const uint16_t *a, const uint16_t *b, int n,
								  float *dot, float *aa, float *bb);
	void		(*f16_l2sq_batch) (const uint16_t *q, const uint16_t *const *items,
								   int count, int n, float *out);
	void		(*f16_dot_batch) (const uint16_t *q, const uint16_t *const *items,
								  int count, int n, float *out);

	/*
	 * RaBitQ codes (rabitq.h): the integer <u, qu> of a code of `bits`
	 * bits (1..8; laid out as rabitq.h says: crumbs at 2, nibbles at 4,
	 * else bit planes) over `padded` coordinates (a multiple of 64) and a
	 * query layout (rbq_query_layout_fill).  Exact int32 arithmetic (at
	 * most 255 * 255 * 16384 < 2^31), so every level gives the same
	 * integer.  The batch scores one query against count codes.
	 */
	int32_t		(*rbq_dot) (const uint8_t *query_layout, const uint8_t *code,
							int padded, int bits);
	void		(*rbq_dot_batch) (const uint8_t *query_layout,
								  const uint8_t *const *codes, int count,
								  int padded, int bits, int32_t *out);

	/*
	 * Filter tags (src/hnsw/hnswfilter.c): values in words of 64.  For each
	 * w < nwords, bit j of out[w] says whether vals[64 w + j] == v
	 * (u32_eq_mask), or whether (lo[i] & mlo) == mlo and (hi[i] & mhi) ==
	 * mhi at i = 64 w + j (u32_pair_has_mask: every bit of a 64-bit
	 * signature).  Exactly 64 * nwords values are read.
	 */
	void		(*u32_eq_mask) (const uint32_t *vals, int nwords, uint32_t v,
								uint64_t *out);
	void		(*u32_pair_has_mask) (const uint32_t *lo, const uint32_t *hi, int nwords,
									  uint32_t mlo, uint32_t mhi, uint64_t *out);
} VectorKernels;

/*
 * splitmix64 (Steele, Lea, Flood 2014): a fixed, portable sequence, the
 * same on every platform, for what must be repeatable: RaBitQ's rotation
 * signs, test data, and hnsw.test_level_seed.
 */
static inline uint64_t
vk_splitmix64(uint64_t *state)
{
	uint64_t	z;

	*state += UINT64_C(0x9e3779b97f4a7c15);
	z = *state;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The table in use; valid after vk_init(). */
extern const VectorKernels *vk_active;

/* Detect the CPU and point vk_active at the best table.  Idempotent. */
extern void vk_init(void);

/* Highest level this CPU and OS support. */
extern VkLevel vk_detect(void);

/*
 * Table for a given level, or NULL when this CPU or build lacks it.
 * vk_table(VK_LEVEL_SCALAR) is never NULL.
 */
extern const VectorKernels *vk_table(VkLevel level);

/*
 * Force the level (for tests and the vector.simd_level GUC).  Returns false,
 * changing nothing, when the level is not available here.
 */
extern int	vk_set_level(VkLevel level);

/*
 * Cosine distance 1 - cos(a, b) through vk_active->f32_dot_norms, clamped to
 * [0, 2]; NaN when either vector is zero.
 */
extern double vk_cosine_distance(const float *a, const float *b, int n);

/* Per-ISA tables, defined in their own files; NULL-free only when built. */
extern const VectorKernels vk_scalar_kernels;
#if defined(__x86_64__) || defined(_M_X64)
#define VK_HAVE_X86 1
extern const VectorKernels vk_avx2_kernels;
extern const VectorKernels vk_avx512_kernels;
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define VK_HAVE_NEON 1
extern const VectorKernels vk_neon_kernels;
#endif

#endif							/* VECTOR_KERNELS_H */
