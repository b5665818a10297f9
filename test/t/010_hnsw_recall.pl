# hnsw recall: on 10,000 clustered 64-dimensional vectors (100 clusters,
# seeded), ORDER BY ... LIMIT 10 through an hnsw index at
# hnsw.ef_search = 100 finds at least 99% of the exact ten nearest
# neighbours, for each operator class (l2, ip, cosine, l1), whether the
# graph was
#   1. built by CREATE INDEX over a loaded table,
#   2. built by inserts (CREATE INDEX on an empty table, then COPY and
#      multi-row INSERTs), or
#   3. repaired by VACUUM after half the rows were deleted, and then grown
#      by 5,000 new rows (exact answers over the rows now present).
# Every measured query is checked, via EXPLAIN, to be an Index Scan on the
# hnsw index of its operator class; the exact answers are computed here,
# in perl, over the same float4 values the server stores.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

# the data seed: fixed, so that CI sees the same data each run;
# VECTOR_TEST_SEED=random (or a number) tries others (issue 13, item 12)
my $seed = $ENV{VECTOR_TEST_SEED} // 1010;
$seed = int(rand(1_000_000_000)) if $seed eq 'random';
diag("data seed $seed");
my ($n, $d, $nq, $k) = (10000, 64, 50, 10);

# 15,000 rows from the same 100 clusters: the first 10,000 are loaded, the
# last 5,000 inserted after the delete.
my $all = as_float4(clustered_vectors($n + 5000, $d, 100, $seed));
my @base = @$all[ 0 .. $n - 1 ];
my @more = @$all[ $n .. $#$all ];
my $queries = near_queries(\@base, $nq, $seed + 1);

my %ops = (l2 => '<->', ip => '<#>', cosine => '<=>', l1 => '<+>');
my @metrics = qw(l2 ip cosine l1);
my $settings = 'SET enable_seqscan = off; SET hnsw.ef_search = 100';

my $node = PostgreSQL::Test::Cluster->new('hnsw_recall');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 256MB\nmaintenance_work_mem = 256MB\nmax_parallel_workers_per_gather = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

sub create_indexes
{
	my ($table) = @_;
	$node->safe_psql('postgres',
		join '', map {
			"CREATE INDEX ${table}_$_ ON $table USING hnsw (embedding vector_${_}_ops) "
			  . "WITH (m = 16, ef_construction = 64);"
		} @metrics);
}

# exact top-k over @$vecs, as ids ($ids->[i] is the id of $vecs->[i])
sub truth
{
	my ($vecs, $ids, $metric) = @_;
	return [ map { [ map { $ids->[$_] } @{ exact_topk($vecs, $_, $k, $metric) } ] } @$queries ];
}

sub check_recall
{
	my ($table, $truth, $when) = @_;
	for my $m (@metrics)
	{
		my $r = index_recall($node,
			table => $table,
			op => $ops{$m},
			index => "${table}_$m",
			queries => $queries,
			truth => $truth->{$m},
			k => $k,
			settings => $settings,
			name => "$m $when");
		# after deleting half the rows, VACUUM and re-inserting this was
		# 0.97-1.0 across data seeds before scans started layer 0 from the
		# ef nearest level-1 nodes (issue 13, item 12)
		my $passed = cmp_ok($r, '>=', 0.99, sprintf('%s recall@10 %s is at least 0.99 (%.4f)', $m, $when, $r));
		next if $passed;

		# diagnosis: the same index at a larger ef_search, and rebuilt
		my %q = (table => $table, op => $ops{$m}, index => "${table}_$m",
			queries => $queries, truth => $truth->{$m}, k => $k, name => "$m $when (diagnosis)");
		my $r2 = index_recall($node, %q,
			settings => 'SET enable_seqscan = off; SET hnsw.ef_search = 400');
		$node->safe_psql('postgres', "REINDEX INDEX ${table}_$m");
		my $r3 = index_recall($node, %q, settings => $settings);
		diag(sprintf('%s %s: recall %.4f at ef_search = 400; %.4f at ef_search = 100 after REINDEX',
				$m, $when, $r2, $r3));
	}
}

my @ids = (0 .. $n - 1);
my %truth = map { $_ => truth(\@base, \@ids, $_) } @metrics;

# 1. CREATE INDEX over the loaded table
load_vectors($node, 'items_built', \@base);
create_indexes('items_built');
check_recall('items_built', \%truth, 'after CREATE INDEX');

# without any planner setting, a LIMIT 10 nearest-neighbour query uses the
# index on its own
like(
	knn_plan($node, 'items_built', '<->', $queries->[0], $k),
	qr/Index Scan using items_built_l2 /,
	'the planner chooses the hnsw index for ORDER BY <-> LIMIT 10');

# 2. the same rows inserted into a table whose indexes already exist: half
# by COPY, half by multi-row INSERTs of 500 rows
$node->safe_psql('postgres', "CREATE TABLE items_ins (id int PRIMARY KEY, embedding vector($d))");
create_indexes('items_ins');
my $half = $n / 2;
copy_vectors($node, 'items_ins', [ @base[ 0 .. $half - 1 ] ], 0);
for (my $i = $half; $i < $n; $i += 500)
{
	my $last = $i + 499 < $n - 1 ? $i + 499 : $n - 1;
	$node->safe_psql('postgres',
		'INSERT INTO items_ins VALUES '
		  . join(',', map { "($_,'" . vec_literal($base[$_]) . "')" } $i .. $last));
}
$node->safe_psql('postgres', 'ANALYZE items_ins');
is($node->safe_psql('postgres', 'SELECT count(*) FROM items_ins'), $n, "$n rows inserted");
check_recall('items_ins', \%truth, 'with the index built by inserts');

# 3. delete every other row, VACUUM, insert 5,000 new rows from the same
# clusters; the answers are now the exact ones over the rows present
$node->safe_psql('postgres', 'DELETE FROM items_built WHERE id % 2 = 0');
$node->safe_psql('postgres', 'VACUUM items_built');
copy_vectors($node, 'items_built', \@more, $n);
$node->safe_psql('postgres', 'ANALYZE items_built');
is($node->safe_psql('postgres', 'SELECT count(*) FROM items_built'), $n, 'half deleted, 5,000 inserted');

# rows inserted after VACUUM must join the rest of their cluster: when a
# cluster had lost its upper-level nodes, inserts that walked one greedy
# path into a nearer cluster built an island there that searches for the
# rest never entered (3-19 of 10,000 rows not found by their own vectors,
# in every run, and recall@10 0.984 once).  Since inserts seed layer 0 from
# level 1, 13 of 15 random data seeds missed none and two missed 1 row.
{
	my $c = deep_check($node, 'items_built_l2', 100);
	ok($c->{missed} <= 2 && !@{ $c->{structural} },
		"l2 after DELETE + VACUUM + inserts: at most 2 of 10,000 live rows are not found by their own vectors at ef_search 100 ($c->{missed})"
	) or diag(join("\n", @{ $c->{lines} }));
}

my @present_ids = ((grep { $_ % 2 } 0 .. $n - 1), $n .. $n + $#more);
my @present = map { $all->[$_] } @present_ids;
my %truth3 = map { $_ => truth(\@present, \@present_ids, $_) } @metrics;
check_recall('items_built', \%truth3, 'after DELETE + VACUUM + inserts');

# no deleted row is ever returned
my $got = knn_ids($node, 'items_built', '<->', $queries, $k, settings => $settings);
is(scalar(grep { $_ < $n && $_ % 2 == 0 } map { @$_ } @$got), 0, 'no deleted row returned');

$node->stop;
done_testing();
