-- test/switch/catalog.sql: every object of the vector extension with the
-- properties that decide its behaviour, one sorted line each.  The switch
-- test compares the output for a database updated from pgvector with the
-- one for a fresh CREATE EXTENSION: they must be identical.
\pset tuples_only on
\pset format unaligned
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'vector'),
members AS (
	SELECT d.classid, d.objid
	FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT line FROM (
	SELECT 'type ' || t.typname || ' len=' || t.typlen || ' byval=' || t.typbyval
		|| ' align=' || t.typalign::text || ' storage=' || t.typstorage::text || ' cat=' || t.typcategory::text
		|| ' preferred=' || t.typispreferred || ' in=' || t.typinput::text || ' out=' || t.typoutput::text
		|| ' recv=' || t.typreceive::text || ' send=' || t.typsend::text
		|| ' modin=' || t.typmodin::text || ' modout=' || t.typmodout::text
		|| ' analyze=' || t.typanalyze::text || ' elem=' || t.typelem::regtype::text
		|| ' comment=' || coalesce(obj_description(t.oid, 'pg_type'), '-') AS line
	FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure::text || ' returns ' || p.prorettype::regtype::text
		|| ' kind=' || p.prokind::text || ' lang=' || l.lanname || ' src=' || p.prosrc
		|| ' bin=' || coalesce(p.probin, '-') || ' volatile=' || p.provolatile::text
		|| ' strict=' || p.proisstrict || ' parallel=' || p.proparallel::text
		|| ' cost=' || p.procost || ' rows=' || p.prorows || ' support=' || p.prosupport::text
		|| ' args=' || coalesce(array_to_string(p.proargnames, ','), '-')
		|| ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
	FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
		JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT 'aggregate ' || a.aggfnoid::regprocedure::text || ' sfunc=' || a.aggtransfn::text
		|| ' stype=' || a.aggtranstype::regtype::text || ' final=' || a.aggfinalfn::text
		|| ' combine=' || a.aggcombinefn::text || ' serial=' || a.aggserialfn::text
		|| ' init=' || coalesce(a.agginitval, '-')
	FROM members m JOIN pg_aggregate a ON m.classid = 'pg_proc'::regclass AND a.aggfnoid = m.objid
	UNION ALL
	SELECT 'operator ' || o.oid::regoperator::text || ' code=' || o.oprcode::text
		|| ' com=' || o.oprcom::regoperator::text || ' neg=' || o.oprnegate::regoperator::text
		|| ' rest=' || o.oprrest::text || ' join=' || o.oprjoin::text
		|| ' merge=' || o.oprcanmerge || ' hash=' || o.oprcanhash
		|| ' comment=' || coalesce(obj_description(o.oid, 'pg_operator'), '-')
	FROM members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
	UNION ALL
	SELECT 'cast ' || format_type(c.castsource, NULL) || ' -> ' || format_type(c.casttarget, NULL)
		|| ' func=' || c.castfunc::regprocedure::text || ' context=' || c.castcontext::text
		|| ' method=' || c.castmethod::text
	FROM members m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'access method ' || am.amname || ' type=' || am.amtype::text || ' handler=' || am.amhandler::text
		|| ' comment=' || coalesce(obj_description(am.oid, 'pg_am'), '-')
	FROM members m JOIN pg_am am ON m.classid = 'pg_am'::regclass AND am.oid = m.objid
	UNION ALL
	SELECT 'opclass ' || oc.opcname || ' using ' || am.amname || ' for ' || oc.opcintype::regtype::text
		|| ' default=' || oc.opcdefault || ' family=' || f.opfname
		|| ' keytype=' || oc.opckeytype::regtype::text
	FROM members m JOIN pg_opclass oc ON m.classid = 'pg_opclass'::regclass AND oc.oid = m.objid
		JOIN pg_am am ON am.oid = oc.opcmethod JOIN pg_opfamily f ON f.oid = oc.opcfamily
	UNION ALL
	SELECT 'opfamily ' || f.opfname || ' using ' || am.amname
	FROM members m JOIN pg_opfamily f ON m.classid = 'pg_opfamily'::regclass AND f.oid = m.objid
		JOIN pg_am am ON am.oid = f.opfmethod
	UNION ALL
	-- the members of the extension's operator families
	SELECT 'amop ' || f.opfname || ' using ' || am.amname || ' ' || ao.amopstrategy
		|| ' ' || ao.amopopr::regoperator::text || ' purpose=' || ao.amoppurpose::text
		|| ' sortfamily=' || coalesce((SELECT opfname FROM pg_opfamily WHERE oid = ao.amopsortfamily), '-')
		|| ' owner=' || coalesce((SELECT string_agg(dp.deptype::text || ':' || pg_describe_object(dp.refclassid, dp.refobjid, 0), ',')
			FROM pg_depend dp WHERE dp.classid = 'pg_amop'::regclass AND dp.objid = ao.oid
				AND dp.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)), '-')
	FROM members m JOIN pg_opfamily f ON m.classid = 'pg_opfamily'::regclass AND f.oid = m.objid
		JOIN pg_am am ON am.oid = f.opfmethod JOIN pg_amop ao ON ao.amopfamily = f.oid
	UNION ALL
	SELECT 'amproc ' || f.opfname || ' using ' || am.amname || ' ' || ap.amprocnum
		|| ' (' || ap.amproclefttype::regtype::text || ',' || ap.amprocrighttype::regtype::text
		|| ') ' || ap.amproc::regprocedure::text
		|| ' owner=' || coalesce((SELECT string_agg(dp.deptype::text || ':' || pg_describe_object(dp.refclassid, dp.refobjid, 0), ',')
			FROM pg_depend dp WHERE dp.classid = 'pg_amproc'::regclass AND dp.objid = ap.oid
				AND dp.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)), '-')
	FROM members m JOIN pg_opfamily f ON m.classid = 'pg_opfamily'::regclass AND f.oid = m.objid
		JOIN pg_am am ON am.oid = f.opfmethod JOIN pg_amproc ap ON ap.amprocfamily = f.oid
	UNION ALL
	-- anything else the extension owns, by name only
	SELECT 'object ' || pg_describe_object(m.classid, m.objid, 0)
	FROM members m
	WHERE m.classid NOT IN ('pg_type'::regclass, 'pg_proc'::regclass, 'pg_operator'::regclass,
		'pg_cast'::regclass, 'pg_am'::regclass, 'pg_opclass'::regclass, 'pg_opfamily'::regclass)
) s
ORDER BY line;
