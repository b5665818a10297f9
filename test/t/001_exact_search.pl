# Exact search: ORDER BY embedding <-> q LIMIT 10 over sift-128's 100,000
# rows (no index) returns the exact nearest neighbours of the data set's
# ground truth, computed independently (gt.ivecs).  SIFT elements are small
# integers, so squared distances are exact integers in float4 and every
# rank can be checked exactly, ties included.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use VectorTest;

my $dir = data_dir();
plan skip_all => 'sift-128 data set not found (set VECTOR_DATA_DIR)' unless $dir;

my $base = read_vecs("$dir/sift-128/base.fvecs");
my $queries = read_vecs("$dir/sift-128/query.fvecs", 100);
my $gt = read_vecs("$dir/sift-128/gt.ivecs", 100);
is(scalar @$base, 100000, 'sift-128 has 100,000 base vectors');

my $node = PostgreSQL::Test::Cluster->new('exact');
$node->init;
$node->append_conf('postgresql.conf', "shared_buffers = 256MB\nmax_parallel_workers_per_gather = 0");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION vector');
load_vectors($node, 'items', $base);

sub l2sq
{
	my ($a, $b) = @_;
	my $s = 0;
	$s += ($a->[$_] - $b->[$_])**2 for 0 .. $#$a;
	return $s;
}

my ($ids_equal, $ranks_exact, $dist_ok) = (0, 0, 0);
for my $qi (0 .. $#$queries)
{
	my $q = $queries->[$qi];
	my $out = $node->safe_psql('postgres',
		"SELECT id, embedding <-> '" . vec_literal($q) . "' FROM items ORDER BY embedding <-> '"
		  . vec_literal($q) . "' LIMIT 10");
	my @rows = map { [ split /\|/ ] } split /\n/, $out;
	my @ours = map { $_->[0] } @rows;
	my @truth = @{ $gt->[$qi] }[ 0 .. 9 ];
	$ids_equal++ if "@ours" eq "@truth";

	# same exact distance at every rank (only tied ids may differ)
	my $ok = 1;
	for my $r (0 .. 9)
	{
		$ok = 0 if l2sq($base->[ $ours[$r] ], $q) != l2sq($base->[ $truth[$r] ], $q);
	}
	$ranks_exact++ if $ok;

	# the reported distance is the true one
	my $dok = 1;
	for my $row (@rows)
	{
		my $true = sqrt(l2sq($base->[ $row->[0] ], $q));
		$dok = 0 if abs($row->[1] - $true) > 1e-9 * ($true + 1);
	}
	$dist_ok++ if $dok;
}

is($ranks_exact, scalar @$queries, 'every rank of every query has the exact nearest distance');
is($dist_ok, scalar @$queries, 'reported distances equal the true distances');
cmp_ok($ids_equal, '>=', scalar(@$queries) - 5, "ids equal ground truth except exact ties ($ids_equal/100)");

$node->stop;
done_testing();
