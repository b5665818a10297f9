/*
 * module.c
 *	  Library entry point: module magic, _PG_init, and the GUCs that are not
 *	  owned by one index access method.
 */
#include "compat.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "hnsw.h"
#include "ivfflat.h"
#include "kernels.h"
#include "filterquals.h"
#include "topk.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* vector.simd_level: developer switch to force a lower kernel level. */
static int	simd_level_guc = -1;

static const struct config_enum_entry simd_level_options[] = {
	{"auto", -1, false},
	{"scalar", VK_LEVEL_SCALAR, false},
	{"avx2", VK_LEVEL_AVX2, false},
	{"avx512", VK_LEVEL_AVX512, false},
	{"neon", VK_LEVEL_NEON, false},
	{NULL, 0, false}
};

static bool
check_simd_level(int *newval, void **extra, GucSource source)
{
	if (*newval >= 0 && vk_table((VkLevel) *newval) == NULL)
	{
		GUC_check_errdetail("This CPU does not support that kernel level.");
		return false;
	}
	return true;
}

static void
assign_simd_level(int newval, void *extra)
{
	if (newval < 0)
		vk_set_level(vk_detect());
	else
		vk_set_level((VkLevel) newval);
}

void
_PG_init(void)
{
	vk_init();

	DefineCustomEnumVariable("vector.simd_level",
							 "Forces the SIMD level of the distance kernels.",
							 "For testing: \"auto\" uses the widest level the CPU supports.",
							 &simd_level_guc, -1, simd_level_options,
							 PGC_USERSET, GUC_NOT_IN_SAMPLE,
							 check_simd_level, assign_simd_level, NULL);
	VecInstallTopK();
	VecInstallFilterQuals();
	MarkGUCPrefixReserved("vector");

	HnswInitGUCs();
	IvfInitGUCs();
	VecRegisterCheck(hnswhandler, HnswCheckIndex);
	VecRegisterCheck(ivfflathandler, IvfCheckIndex);
}
