/*
 * vecheap.h
 *	  The one binary heap of both index AMs, as two macros over a plain
 *	  array: each user keeps its own element type and order, and the
 *	  comparison is inlined into the loop (a callback would cost a call per
 *	  level on the scans' hottest path).
 *
 *	  ABOVE(x, y) takes two element pointers and is true when *x belongs
 *	  nearer the root than *y: a min-heap's ABOVE is "less", a max-heap's
 *	  "greater".  The order must be strict, or equal elements move back and
 *	  forth for nothing.
 */
#ifndef VECTOR_VECHEAP_H
#define VECTOR_VECHEAP_H

/* place *x, a new element at a[i] (the end), moving it up to where it belongs */
#define VEC_HEAP_SIFT_UP(ABOVE, a, i, x) \
	do { \
		int			vh_i = (i); \
		while (vh_i > 0) \
		{ \
			int			vh_p = (vh_i - 1) / 2; \
			if (!ABOVE((x), &(a)[vh_p])) \
				break; \
			(a)[vh_i] = (a)[vh_p]; \
			vh_i = vh_p; \
		} \
		(a)[vh_i] = *(x); \
	} while (0)

/*
 * place *x at a[i] of the n-element heap a and move it down to where it
 * belongs; x must not point into a[i .. n).  a[i] is written even when n
 * is 0, so the array must have room for one element.
 */
#define VEC_HEAP_SIFT_DOWN(ABOVE, a, n, i, x) \
	do { \
		int			vh_i = (i); \
		for (;;) \
		{ \
			int			vh_c = 2 * vh_i + 1; \
			if (vh_c >= (n)) \
				break; \
			if (vh_c + 1 < (n) && ABOVE(&(a)[vh_c + 1], &(a)[vh_c])) \
				vh_c++; \
			if (!ABOVE(&(a)[vh_c], (x))) \
				break; \
			(a)[vh_i] = (a)[vh_c]; \
			vh_i = vh_c; \
		} \
		(a)[vh_i] = *(x); \
	} while (0)

#endif							/* VECTOR_VECHEAP_H */
