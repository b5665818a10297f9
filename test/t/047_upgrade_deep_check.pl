# ALTER EXTENSION vector UPDATE from 0.1.0, and vector_index_check()'s
# deeper mode (0.1.1), which searches for every live row's own vector.
#
# Upgrade: a database with data and indexes built under 0.1.0 is updated;
# the update must leave exactly the objects a fresh install has
# and the same descriptions (catches an update script that forgets or adds
# an object or a COMMENT), and the old
# indexes must keep answering exactly as a sequential scan does.
#
# Deep check: on a sound index it reports nothing (catches a search that
# differs from a scan's); after rows that trap searches (a dense cluster of
# random integer vectors added to sift rows, see src/hnsw/README.md, "Known
# problems") it reports the nodes a search misses, and every row it names
# is really missed by a self-lookup at that ef_search (catches a check that
# misses nothing, or names rows a scan does find).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "max_parallel_maintenance_workers = 0\nautovacuum = off");
$node->start;

# ---------------------------------------------------------------- upgrade
$node->safe_psql('postgres', "CREATE EXTENSION vector VERSION '0.1.0'");
load_vectors($node, 'items', random_vectors(2000, 8, 4701));
$node->safe_psql('postgres',
	    'CREATE INDEX items_h ON items USING hnsw (embedding vector_l2_ops);'
	  . 'CREATE INDEX items_i ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 10)');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_proc WHERE proname = 'vector_index_check' AND pronargs = 2"),
	0, '0.1.0 has no two-argument vector_index_check');
$node->safe_psql('postgres', 'ALTER EXTENSION vector UPDATE');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'vector'"),
	'0.1.3', 'updated to the current version, 0.1.3');

my $objects = q{SELECT string_agg(d, E'\n' ORDER BY d) FROM (
	SELECT pg_describe_object(classid, objid, 0) AS d FROM pg_depend
	WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector')) s};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION vector');
my $updated = $node->safe_psql('postgres', $objects);
my $fresh = $node->safe_psql('fresh', $objects);
ok($fresh =~ /vector_index_check\(regclass,integer\)/, 'a fresh install has the deep check');
is($updated, $fresh, 'the update leaves the objects of a fresh install');

# and their descriptions (COMMENT ON, for \df+ and \do+): the same text
my $descriptions = q{SELECT string_agg(d, E'\n' ORDER BY d) FROM (
	SELECT pg_describe_object(p.classid, p.objid, 0) || ': ' || coalesce(ds.description, '(none)') AS d
	FROM pg_depend p LEFT JOIN pg_description ds
	  ON ds.classoid = p.classid AND ds.objoid = p.objid AND ds.objsubid = 0
	WHERE p.refclassid = 'pg_extension'::regclass AND p.deptype = 'e'
	  AND p.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector')) s};
my $fresh_desc = $node->safe_psql('fresh', $descriptions);
ok($fresh_desc =~ /^function l2_distance\(vector,vector\): Euclidean/m, 'a fresh install describes its functions');
is($node->safe_psql('postgres', $descriptions), $fresh_desc,
	'the update leaves the descriptions of a fresh install');

# and the functions' planner support and cost (ALTER FUNCTION ... SUPPORT in
# the update: the distance functions are priced at their dimensions)
my $support = q{SELECT string_agg(f, E'\n' ORDER BY f) FROM (
	SELECT p.oid::regprocedure || ' ' || p.prosupport::regproc || ' ' || p.procost AS f
	FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
	  AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector')) s};
my $fresh_support = $node->safe_psql('fresh', $support);
ok($fresh_support =~ /^l2_distance\(vector,vector\) vector_distance_support /m,
	'a fresh install prices the distance functions');
is($node->safe_psql('postgres', $support), $fresh_support,
	'the update leaves the planner support and costs of a fresh install');

for my $idx (qw(items_h items_i))
{
	is($node->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('$idx', 100)"),
		0, "$idx (built under 0.1.0): the checks find nothing");
}
my $q = "SELECT string_agg(id::text, ',' ORDER BY d, id) FROM (SELECT id, embedding <-> "
  . "(SELECT embedding FROM items WHERE id = 7) AS d FROM items ORDER BY d LIMIT 10) s";
my $exact = $node->safe_psql('postgres', "SET enable_indexscan = off; $q");
for ('SET hnsw.ef_search = 100; DROP INDEX items_i',
	'SET ivfflat.probes = 10; DROP INDEX items_h')
{
	my $set = "SET enable_seqscan = off; $_";
	like($node->safe_psql('postgres', "BEGIN; $set; EXPLAIN (COSTS OFF) $q; ROLLBACK"),
		qr/Index Scan using items_[hi]/, 'the query uses the index');
	is($node->safe_psql('postgres', "BEGIN; $set; $q; ROLLBACK"),
		$exact, 'an index built under 0.1.0 answers as a sequential scan does');
}

# 0.1.2's filter columns and 0.1.3's array ones on the updated database:
# the operator classes of the update scripts (a missing or wrong one fails
# CREATE INDEX, or leaves the condition above the scan), beside the index
# built under 0.1.0
$node->safe_psql('postgres',
	'ALTER TABLE items ADD COLUMN cat int4, ADD COLUMN labels int4[]; '
	  . 'UPDATE items SET cat = id % 10, labels = ARRAY[id % 7, 100 + id % 13]; '
	  . 'CREATE INDEX items_hf ON items USING hnsw (embedding vector_l2_ops, cat, labels)');
my $fq = "SELECT string_agg(id::text, ',' ORDER BY d, id) FROM (SELECT id, embedding <-> "
  . "(SELECT embedding FROM items WHERE id = 7) AS d FROM items WHERE cat = 3 ORDER BY d LIMIT 10) s";
my $fexact = $node->safe_psql('postgres', "SET enable_indexscan = off; $fq");
like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $fq"),
	qr/Index Scan using items_hf.*\n.*Index Cond: \(cat = 3\)/, 'a filter column of the updated extension is an index condition');
is($node->safe_psql('postgres', "SET enable_seqscan = off; SET hnsw.ef_search = 200; $fq"),
	$fexact, 'and answers as a sequential scan does');
my $aq = "SELECT string_agg(id::text, ',' ORDER BY d, id) FROM (SELECT id, embedding <-> "
  . "(SELECT embedding FROM items WHERE id = 7) AS d FROM items WHERE labels && '{3}' AND labels @> '{105}' ORDER BY d LIMIT 10) s";
my $aexact = $node->safe_psql('postgres', "SET enable_indexscan = off; $aq");
like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $aq"),
	qr/Index Scan using items_hf.*\n.*Index Cond: \(\(labels && '\{3\}'::integer\[\]\) AND \(labels @> '\{105\}'::integer\[\]\)\)/,
	'an array filter column of the updated extension is an index condition');
is($node->safe_psql('postgres', "SET enable_seqscan = off; $aq"),
	$aexact, 'and answers as a sequential scan does');
is($node->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('items_hf')"), 0,
	'the filter index checks clean');
$node->safe_psql('postgres', 'DROP INDEX items_hf; ALTER TABLE items DROP COLUMN cat, DROP COLUMN labels');

my ($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM vector_index_check('items_h', 1001)");
like($err, qr/search_ef must be between 0 and 1000/, 'search_ef out of range is an error');

# ---------------------------------------------------------------- deep check
SKIP:
{
	my $dir = data_dir();
	skip 'no sift-128 data', 5 unless defined $dir;
	load_vectors($node, 'sift', read_vecs("$dir/sift-128/base.fvecs", 2000));
	$node->safe_psql('postgres', 'CREATE INDEX sift_h ON sift USING hnsw (embedding vector_l2_ops)');
	is($node->safe_psql('postgres', "SELECT count(*) FROM vector_index_check('sift_h', 100)"),
		0, 'a sound index: every row is found by its own vector at ef 100');

	$node->safe_psql('postgres',
		"INSERT INTO sift SELECT 100000 + i, (SELECT array_agg(floor(random() * 61)) "
		  . "FROM generate_series(1, 128) g WHERE g > -i)::vector FROM generate_series(1, 1500) i");
	my $c = deep_check($node, 'sift_h', 10);
	ok($c->{missed} > 0, 'after a trapping cluster, the deep check reports misses')
	  or diag(join("\n", @{ $c->{lines} }));
	note("$c->{missed} of " . ($c->{live} // '?') . ' live rows not found at ef 10');
	my @tids = map { "'($_)'" } @{ $c->{rows} };
	ok(@tids > 0, 'it names the rows it misses');
	my $missed = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET hnsw.ef_search = 10; "
		  . "SELECT count(*) FROM sift s WHERE ctid IN (" . join(',', @tids) . ") "
		  . "AND s.id NOT IN (SELECT i.id FROM sift i ORDER BY i.embedding <-> s.embedding LIMIT 10)");
	is($missed, scalar @tids, 'every row it names is missed by a self-lookup at that ef_search');
	is(scalar(@{ $c->{structural} }), 0, 'the structural checks still find nothing');
}

done_testing();
