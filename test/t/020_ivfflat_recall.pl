# ivfflat recall: on 10,000 clustered 64-dimensional vectors (100 clusters,
# seeded), ORDER BY ... LIMIT 10 through an ivfflat index with lists = 100,
# for each operator class (l2, ip, cosine), against exact answers computed
# here over the same float4 values:
#   - probes = lists reads every list: recall is exactly 1.0;
#   - probes = 10 and probes = 1 reach fixed floors (k-means lists on
#     clustered data put most neighbours in the query's own list);
#   - after 5,000 more rows are inserted, and again after half the rows are
#     deleted and VACUUM ran, probes = lists is still exact and no deleted
#     row is ever returned.
# Every measured query is checked, via EXPLAIN, to be an Index Scan on the
# ivfflat index of its operator class.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $seed = 2020;
my ($n, $d, $nq, $k, $lists) = (10000, 64, 50, 10, 100);
my %floor = (1 => 0.60, 10 => 0.95);

my $all = as_float4(clustered_vectors($n + 5000, $d, 100, $seed));
my @base = @$all[ 0 .. $n - 1 ];
my @more = @$all[ $n .. $#$all ];
my $queries = near_queries(\@base, $nq, $seed + 1);

my %ops = (l2 => '<->', ip => '<#>', cosine => '<=>');
my @metrics = qw(l2 ip cosine);

my $node = PostgreSQL::Test::Cluster->new('ivfflat_recall');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_buffers = 256MB\nmaintenance_work_mem = 256MB\nmax_parallel_workers_per_gather = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');

sub truth
{
	my ($vecs, $ids, $metric) = @_;
	return [ map { [ map { $ids->[$_] } @{ exact_topk($vecs, $_, $k, $metric) } ] } @$queries ];
}

sub recall
{
	my ($m, $probes, $truth) = @_;
	return index_recall($node,
		table => 'items',
		op => $ops{$m},
		index => "items_$m",
		queries => $queries,
		truth => $truth,
		k => $k,
		settings => "SET enable_seqscan = off; SET ivfflat.probes = $probes",
		name => "$m probes=$probes");
}

my @ids = (0 .. $n - 1);
my %truth = map { $_ => truth(\@base, \@ids, $_) } @metrics;

load_vectors($node, 'items', \@base);
$node->safe_psql('postgres',
	join '', map {
		"CREATE INDEX items_$_ ON items USING ivfflat (embedding vector_${_}_ops) WITH (lists = $lists);"
	} @metrics);

for my $m (@metrics)
{
	my $r = recall($m, $lists, $truth{$m});
	is($r, 1, sprintf('%s: probes = lists gives the exact answers (recall %.4f)', $m, $r));
	for my $p (10, 1)
	{
		$r = recall($m, $p, $truth{$m});
		cmp_ok($r, '>=', $floor{$p}, sprintf('%s recall@10 at probes = %d is at least %.2f (%.4f)',
			$m, $p, $floor{$p}, $r));
	}
}

# the planner picks the index for a LIMIT 10 query on its own
like(knn_plan($node, 'items', '<->', $queries->[0], $k),
	qr/Index Scan using items_l2 /, 'the planner chooses the ivfflat index for ORDER BY <-> LIMIT 10');

# inserts: every list grows past its pages
copy_vectors($node, 'items', \@more, $n);
my @ids2 = (0 .. $n + $#more);
my %truth2 = map { $_ => truth($all, \@ids2, $_) } @metrics;
for my $m (@metrics)
{
	my $r = recall($m, $lists, $truth2{$m});
	is($r, 1, sprintf('%s: exact after 5,000 inserts (recall %.4f)', $m, $r));
	$r = recall($m, 10, $truth2{$m});
	cmp_ok($r, '>=', $floor{10}, sprintf('%s: recall@10 at probes = 10 after inserts (%.4f)', $m, $r));
}

# delete half, VACUUM: exact over the rows left, no deleted row returned
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 2 = 0');
$node->safe_psql('postgres', 'VACUUM items');
my @left_ids = grep { $_ % 2 } @ids2;
my @left = map { $all->[$_] } @left_ids;
my %truth3 = map { $_ => truth(\@left, \@left_ids, $_) } @metrics;
for my $m (@metrics)
{
	my $r = recall($m, $lists, $truth3{$m});
	is($r, 1, sprintf('%s: exact after DELETE + VACUUM (recall %.4f)', $m, $r));
}
my $got = knn_ids($node, 'items', '<->', $queries, 50,
	settings => "SET enable_seqscan = off; SET ivfflat.probes = 10");
is(scalar(grep { $_ % 2 == 0 } map { @$_ } @$got), 0, 'no deleted row returned');
my $tuples = $node->safe_psql('postgres',
	"SELECT reltuples FROM pg_class WHERE relname = 'items_l2'");
is($tuples, scalar @left_ids, 'VACUUM reports the rows the index holds');

diag("data seed $seed") unless Test::More->builder->is_passing;
$node->stop;
done_testing();
