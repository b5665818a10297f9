# hnsw recall of an index grown by concurrent inserts: ten pgbench clients
# insert 10,000 random 10-dimension halfvec rows (elements 2 * random() *
# random(), so most lie near zero) into a table with one hnsw index per
# halfvec operator class.  For 100 query vectors from the same
# distribution, ORDER BY ... LIMIT 20 through each index at the default
# hnsw.ef_search must find at least 99% of the exact 20 nearest rows
# (98% under inner product, which is no metric: its recall here varies
# 0.987-0.999 from run to run, before and after the fix alike), which a
# sequential scan gives.  A row counts as found when its distance is within
# the exact 20th distance, so ties cannot count as misses.
#
# Under L1, re-homing the nodes a back-link pushed out (the new node's
# list became those nodes, then its own choices) cost this index its
# nearest links: 0.988-0.994 before, 0.996-0.998 after, where l2 gave
# 0.998-0.9995.  The brief's 0.98 does not fail on this machine before the
# fix; 0.99 fails some runs of it and leaves the fixed code room (0.995 left
# it 0.001 in one run).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

# a new seed for the queries each run (VECTOR_TEST_SEED repeats one); the
# rows and the nodes' levels come from the server's random() anyway
my $seed = $ENV{VECTOR_TEST_SEED} // int(rand(1_000_000_000));
diag("query seed $seed");
srand($seed);
my ($nq, $k, $d) = (100, 20, 10);
my %ops = (l2 => '<->', ip => '<#>', cosine => '<=>', l1 => '<+>');

my $node = PostgreSQL::Test::Cluster->new('concurrent_recall');
$node->init;
$node->append_conf('postgresql.conf', 'max_parallel_workers_per_gather = 0');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
$node->safe_psql('postgres',
	"CREATE TABLE tst (i serial, v halfvec($d));"
	  . join('', map { "CREATE INDEX tst_$_ ON tst USING hnsw (v halfvec_${_}_ops);" } sort keys %ops));

$node->pgbench(
	'--no-vacuum --client=10 --jobs=2 --transactions=1000',
	0,
	[qr{actually processed: 10000/10000}],
	[qr{^$}],
	'10 clients insert 10,000 rows',
	{
		'032_insert' => "INSERT INTO tst (v) SELECT ARRAY(SELECT 2 * random() * random() "
		  . "FROM generate_series(1, $d))::halfvec;"
	});
is($node->safe_psql('postgres', 'SELECT count(*) FROM tst'), 10000, '10,000 rows');

$node->safe_psql('postgres',
	'CREATE TABLE q (n int, v halfvec) ; INSERT INTO q VALUES '
	  . join(',', map { "($_,'[" . join(',', map { 2 * rand() * rand() } 1 .. $d) . "]')" } 1 .. $nq));

for my $m (sort keys %ops)
{
	my $op = $ops{$m};
	my $knn = "SELECT q.n, t.i, t.dist FROM q, LATERAL "
	  . "(SELECT i, v $op q.v AS dist FROM tst ORDER BY v $op q.v LIMIT $k) t";

	like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $knn"),
		qr/Index Scan using tst_$m on tst/, "$m: the queries use the $m index");
	my $found = $node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		CREATE TEMP TABLE got AS $knn;
		RESET enable_seqscan;
		SET enable_indexscan = off;
		CREATE TEMP TABLE exact AS $knn;
		SELECT count(*) FROM got g
		WHERE g.dist <= (SELECT max(e.dist) FROM exact e WHERE e.n = g.n);});
	my $recall = $found / ($nq * $k);
	my $min = $m eq 'ip' ? 0.98 : 0.99;
	cmp_ok($recall, '>=', $min, sprintf('%s recall@%d after concurrent inserts is at least %g (%.4f)', $m, $k, $min, $recall));
}
# every node can be reached (not asserted for ip: under inner product a
# node of small norm, which no query ranks first, can end up in a group
# that only links to itself; VACUUM links such nodes back)
is($node->safe_psql('postgres',
		join(' UNION ALL ', map { "SELECT * FROM vector_index_check('tst_$_')" } qw(cosine l1 l2))
		  . ' LIMIT 5'),
	'', 'vector_index_check finds no problem in the l2, cosine and l1 indexes');

is_deeply([ server_log_problems($node) ], [], 'no crash in the server log');
$node->stop;
done_testing();
