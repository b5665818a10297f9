# hnsw and bad input: every invalid index definition, option, setting or
# query is refused with a clean ERROR (whose message names the problem),
# never a crash; after each the server still answers and at the end its log
# shows no crash.  Covers: m and ef_construction out of range or
# inconsistent, unknown options, unsupported types, multi-column, unique
# and INCLUDE indexes, more than 2000 dimensions, columns without
# dimensions, query vectors of the wrong dimension, NULL and zero query
# vectors, NULL and zero rows, invalid hnsw.* settings, and an hnsw index
# on an unlogged table across an immediate shutdown (its init fork).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $node = PostgreSQL::Test::Cluster->new('hnsw_input');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
$node->safe_psql('postgres',
	    'CREATE TABLE t (id int, i int, e vector(2));'
	  . "INSERT INTO t SELECT g, g, ARRAY[g % 10, g / 10]::vector FROM generate_series(1, 100) g;");

sub alive
{
	my ($name) = @_;
	my ($ret, $out) = (0, '');
	$ret = $node->psql('postgres', 'SELECT 1', stdout => \$out);
	ok($ret == 0 && $out eq '1', "$name: the server is still up");
}

# $sql must fail with an ERROR matching $pattern
sub fails
{
	my ($sql, $pattern, $name) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	ok($ret != 0 && $err =~ /ERROR: .*$pattern/i && $err !~ /server closed|terminat/,
		"$name: clean error") or diag("exit $ret, stderr: $err");
	alive($name);
	return $err;
}

# $sql must succeed
sub works
{
	my ($sql, $name) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	is($ret, 0, "$name: succeeds") or diag($err);
	return $out;
}

# $sql may succeed or fail, but only with a clean ERROR
sub no_crash
{
	my ($sql, $name) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
	ok(($ret == 0 || $err =~ /ERROR: /) && $err !~ /server closed|terminat/,
		"$name: succeeds or fails cleanly") or diag("exit $ret, stderr: $err");
	note("$name: " . ($ret == 0 ? 'succeeded' : "failed: $err"));
	alive($name);
	return ($ret, $out, $err);
}

my $create = 'CREATE INDEX t_idx ON t USING hnsw (e vector_l2_ops)';

# options
fails("$create WITH (m = 1)", '\bm\b|out of bounds|between', 'm = 1');
fails("$create WITH (m = 101)", '\bm\b|out of bounds|between', 'm = 101');
fails("$create WITH (ef_construction = 3)", 'ef_construction|out of bounds|between', 'ef_construction = 3');
fails("$create WITH (ef_construction = 1001)", 'ef_construction|out of bounds|between', 'ef_construction = 1001');
fails("$create WITH (m = 16, ef_construction = 31)", 'ef_construction', 'ef_construction < 2 * m');
fails("$create WITH (m = 'abc')", '\bm\b|invalid', 'm not a number');
fails("$create WITH (foo = 1)", 'foo', 'unknown option');
works("$create WITH (m = 2, ef_construction = 4); DROP INDEX t_idx", 'm = 2, ef_construction = 4');
works("$create WITH (m = 100, ef_construction = 1000); DROP INDEX t_idx", 'm = 100, ef_construction = 1000');
works("$create WITH (m = 16, ef_construction = 32); DROP INDEX t_idx", 'ef_construction = 2 * m');

# unsupported types and index shapes
fails('CREATE INDEX ON t USING hnsw (i)', 'operator class|hnsw', 'hnsw on an int column');
fails('CREATE INDEX ON t USING hnsw (i vector_l2_ops)', 'operator class|type', 'vector_l2_ops on an int column');
fails('CREATE INDEX ON t USING hnsw (e vector_l2_ops, e vector_l2_ops)', 'multi|column', 'two columns');
fails('CREATE UNIQUE INDEX ON t USING hnsw (e vector_l2_ops)', 'unique', 'unique hnsw index');
fails('CREATE INDEX ON t USING hnsw (e vector_l2_ops) INCLUDE (id)', 'includ', 'INCLUDE columns');

# dimensions
$node->safe_psql('postgres', 'CREATE TABLE wide (e vector(2001)); CREATE TABLE w2000 (id int, e vector(2000))');
# past 2,000 dimensions l2 gets codes (format version 2); l1 has none, and its limit stays
fails('CREATE INDEX ON wide USING hnsw (e vector_l1_ops)', '2000', '2001 dimensions, l1');
works('CREATE INDEX ON wide USING hnsw (e vector_l2_ops)', '2001 dimensions, l2 with codes');
$node->safe_psql('postgres', 'CREATE TABLE wide16k (e vector(16000))');
fails('CREATE INDEX ON wide16k USING hnsw (e vector_l2_ops) WITH (bits = 8)', 'does not fit', '16,000 dimensions at 8 bits');
works('CREATE INDEX ON wide16k USING hnsw (e vector_l2_ops)', '16,000 dimensions with codes');
works("INSERT INTO w2000 SELECT g, array_fill(g::real, ARRAY[2000])::vector FROM generate_series(1, 5) g;"
	  . 'CREATE INDEX w2000_idx ON w2000 USING hnsw (e vector_l2_ops)', '2000 dimensions');
is(
	works("SET enable_seqscan = off; SELECT id FROM w2000 ORDER BY e <-> array_fill(2.1::real, ARRAY[2000])::vector LIMIT 2",
		'2000-dimension query'),
	"2\n3", '2000-dimension query returns the nearest rows');

# a column without dimensions: empty, then with rows
$node->safe_psql('postgres', 'CREATE TABLE u (id int, e vector)');
my ($ret) = no_crash('CREATE INDEX u_idx ON u USING hnsw (e vector_l2_ops)', 'column without dimensions, empty table');
if ($ret == 0)
{
	works("INSERT INTO u VALUES (1, '[1,2]'), (2, '[3,4]')", '2-dim rows into the dimensionless index');
	fails("INSERT INTO u VALUES (3, '[1,2,3]')", 'dimension', '3-dim row into an index of 2-dim rows');
	$node->safe_psql('postgres', 'DROP INDEX u_idx');
}
$node->safe_psql('postgres', "INSERT INTO u VALUES (10, '[1,2]'), (11, '[1,2,3]')");
no_crash('CREATE INDEX u_idx2 ON u USING hnsw (e vector_l2_ops)', 'column without dimensions, mixed rows');
$node->safe_psql('postgres', 'TRUNCATE u; DROP INDEX IF EXISTS u_idx2');
works("CREATE INDEX u_expr ON u USING hnsw ((e::vector(2)) vector_l2_ops); INSERT INTO u VALUES (1, '[1,2]')",
	'expression index with a cast to vector(2)');
fails("INSERT INTO u VALUES (2, '[1,2,3]')", 'dimension', '3-dim row into the vector(2) expression index');

# query vectors that do not fit the index
$node->safe_psql('postgres',
	    'CREATE INDEX t_l2 ON t USING hnsw (e vector_l2_ops);'
	  . 'CREATE INDEX t_ip ON t USING hnsw (e vector_ip_ops);'
	  . 'CREATE INDEX t_cos ON t USING hnsw (e vector_cosine_ops);'
	  . 'CREATE INDEX t_l1 ON t USING hnsw (e vector_l1_ops)');
my $scan = 'SET enable_seqscan = off; SET hnsw.iterative_scan = strict_order;';
for my $c ([ 'l2', '<->' ], [ 'ip', '<#>' ], [ 'cos', '<=>' ], [ 'l1', '<+>' ])
{
	my ($m, $op) = @$c;
	like($node->safe_psql('postgres', "$scan EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY e $op '[1,2,3]' LIMIT 3"),
		qr/Index Scan using t_$m /, "$m: the query plans as an index scan");
	fails("$scan SELECT id FROM t ORDER BY e $op '[1,2,3]' LIMIT 3", 'dimension', "$m: 3-dim query on a 2-dim index");
	fails("$scan SELECT id FROM t ORDER BY e $op '[1]' LIMIT 3", 'dimension', "$m: 1-dim query on a 2-dim index");
	no_crash("$scan SELECT id FROM t ORDER BY e $op NULL LIMIT 3", "$m: NULL query vector");
	no_crash("$scan SELECT id FROM t ORDER BY e $op (SELECT NULL::vector) LIMIT 3", "$m: NULL query vector from a subquery");
	no_crash("$scan SELECT id FROM t ORDER BY e $op '[0,0]' LIMIT 3", "$m: zero query vector");
}

# NULL and zero rows: accepted; an index scan never returns a NULL, and a
# cosine index scan never returns a zero vector (neither is indexed)
works("INSERT INTO t VALUES (1001, 0, NULL), (1002, 0, '[0,0]')", 'NULL and zero rows inserted into the indexed table');
my $all = 'SET hnsw.iterative_scan = strict_order; SET hnsw.ef_search = 1000;';
my $l2 = works("$scan $all SELECT id FROM t ORDER BY e <-> '[3,3]' LIMIT 1000", 'l2 scan over everything');
my @l2 = split /\n/, $l2;
is(scalar(grep { $_ == 1001 } @l2), 0, 'l2: the NULL row is not returned');
is(scalar(grep { $_ == 1002 } @l2), 1, 'l2: the zero row is returned');
is(scalar @l2, 101, 'l2: every non-NULL row is returned');
my @cos = split /\n/, works("$scan $all SELECT id FROM t ORDER BY e <=> '[3,3]' LIMIT 1000", 'cosine scan over everything');
is(scalar(grep { $_ == 1001 || $_ == 1002 } @cos), 0, 'cosine: neither the NULL nor the zero row is returned');
is(scalar @cos, 100, 'cosine: every other row is returned');
works("SET maintenance_work_mem = '64MB'; REINDEX TABLE t", 'REINDEX with NULL and zero rows');

# hnsw settings
my $load = "SELECT '[1]'::vector;";
fails("$load SET hnsw.ef_search = 0", 'ef_search', 'hnsw.ef_search = 0');
fails("$load SET hnsw.ef_search = 1001", 'ef_search', 'hnsw.ef_search = 1001');
fails("$load SET hnsw.ef_search = -5", 'ef_search', 'hnsw.ef_search = -5');
fails("$load SET hnsw.iterative_scan = bogus", 'iterative_scan', 'hnsw.iterative_scan = bogus');
fails("$load SET hnsw.max_scan_tuples = 0", 'max_scan_tuples', 'hnsw.max_scan_tuples = 0');
no_crash("$load SET hnsw.scan_mem_multiplier = 0", 'hnsw.scan_mem_multiplier = 0');
for my $v (qw(off relaxed_order strict_order))
{
	works("$load SET hnsw.iterative_scan = $v", "hnsw.iterative_scan = $v");
}
cmp_ok(works("SET enable_seqscan = off; SET hnsw.ef_search = 1; SELECT count(*) FROM "
		  . "(SELECT id FROM t ORDER BY e <-> '[3,3]' LIMIT 5) s", 'ef_search = 1'),
	'>=', 1, 'ef_search = 1 (iterative scan off) returns rows');
is(works("SET enable_seqscan = off; SET hnsw.max_scan_tuples = 1; SET hnsw.iterative_scan = strict_order; "
		  . "SELECT count(*) FROM (SELECT id FROM t ORDER BY e <-> '[3,3]' LIMIT 5) s", 'max_scan_tuples = 1') > 0,
	1, 'max_scan_tuples = 1 returns some rows');

# an index on an unlogged table survives an immediate shutdown: the table
# comes back empty and its index (reset from the init fork) works
$node->safe_psql('postgres',
	    'CREATE UNLOGGED TABLE ul (id int, e vector(2));'
	  . 'INSERT INTO ul SELECT g, ARRAY[g, g % 7]::vector FROM generate_series(1, 200) g;'
	  . 'CREATE INDEX ul_idx ON ul USING hnsw (e vector_l2_ops);'
	  . "INSERT INTO ul VALUES (1000, '[50.5,0.5]');");
is($node->safe_psql('postgres', "SET enable_seqscan = off; SELECT id FROM ul ORDER BY e <-> '[50.4,0.4]' LIMIT 1"),
	'1000', 'unlogged: index works');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0', 'unlogged: empty after the immediate shutdown');
$node->safe_psql('postgres', 'INSERT INTO ul SELECT g, ARRAY[g, g % 7]::vector FROM generate_series(1, 200) g');
is($node->safe_psql('postgres', "SET enable_seqscan = off; SELECT id FROM ul ORDER BY e <-> '[77.1,0.1]' LIMIT 1"),
	'77', 'unlogged: the reset index takes inserts and finds them');
like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM ul ORDER BY e <-> '[77.1,0.1]' LIMIT 1"),
	qr/Index Scan using ul_idx/, 'unlogged: through the index');

# a temporary table
is($node->safe_psql('postgres',
		    'CREATE TEMP TABLE tt (id int, e vector(2));'
		  . 'INSERT INTO tt SELECT g, ARRAY[g, 0]::vector FROM generate_series(1, 50) g;'
		  . 'CREATE INDEX ON tt USING hnsw (e vector_l2_ops);'
		  . "SET enable_seqscan = off; SELECT id FROM tt ORDER BY e <-> '[20.2,0]' LIMIT 1"),
	'20', 'temporary table');

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
$node->stop;
done_testing();
