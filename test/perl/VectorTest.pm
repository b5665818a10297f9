# VectorTest.pm: helpers shared by the TAP tests: data sets, loading,
# exact answers and recall.
package VectorTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp ();

our @EXPORT = qw(data_dir read_vecs vec_literal load_vectors random_vectors
  clustered_vectors exact_topk recall_at);

# Where the shipped data sets are: $VECTOR_DATA_DIR, else ../shared/data
# beside the checkout.  Returns undef when absent.
sub data_dir
{
	for my $d ($ENV{VECTOR_DATA_DIR}, "$ENV{TESTDIR}/../shared/data")
	{
		return $d if defined $d && -d "$d/sift-128";
	}
	return undef;
}

# Read an .fvecs (float) or .ivecs (int) file: a list of array refs.
# $limit, when given, stops after that many rows.
sub read_vecs
{
	my ($path, $limit) = @_;
	my $int = $path =~ /\.ivecs$/;
	open my $fh, '<:raw', $path or die "cannot open $path: $!";
	local $/;
	my $buf = <$fh>;
	close $fh;
	my $d = unpack('l<', $buf);
	my $row = 4 * ($d + 1);
	my $n = length($buf) / $row;
	$n = $limit if defined $limit && $limit < $n;
	my $fmt = $int ? "x4 l<$d" : "x4 f<$d";
	return [ map { [ unpack($fmt, substr($buf, $_ * $row, $row)) ] } 0 .. $n - 1 ];
}

# '[1,2,3]' for an array ref, with enough digits to round-trip a float4.
sub vec_literal
{
	my ($v) = @_;
	return '[' . join(',', map { sprintf('%.9g', $_) } @$v) . ']';
}

# Create $table (id int primary key, embedding vector(d)[, extra cols]) and
# COPY the vectors in (ids 0..n-1).  $extra is an optional code ref giving
# extra column values for row i, with $extra_cols their DDL.
sub load_vectors
{
	my ($node, $table, $vecs, %opt) = @_;
	my $d = scalar @{ $vecs->[0] };
	my $cols = $opt{extra_cols} ? ", $opt{extra_cols}" : '';
	my $tmp = File::Temp->new(SUFFIX => '.copy', DIR => $ENV{TESTDIR} // '/tmp');
	for my $i (0 .. $#$vecs)
	{
		my @extra = $opt{extra} ? $opt{extra}->($i) : ();
		print $tmp join("\t", $i, vec_literal($vecs->[$i]), @extra), "\n";
	}
	close $tmp;
	chmod 0644, $tmp->filename;
	$node->safe_psql('postgres',
		    "CREATE TABLE $table (id int PRIMARY KEY, embedding vector($d)$cols);"
		  . "COPY $table FROM '" . $tmp->filename . "';"
		  . "ANALYZE $table;");
	return;
}

# A small seeded generator (xorshift) so that data never depends on perl's
# rand() implementation.
sub _rng
{
	my ($seed) = @_;
	my $s = $seed || 1;
	return sub {
		$s ^= ($s << 13) & 0xFFFFFFFF;
		$s ^= $s >> 17;
		$s ^= ($s << 5) & 0xFFFFFFFF;
		return ($s & 0xFFFFFFFF) / 4294967296.0;
	};
}

sub random_vectors
{
	my ($n, $d, $seed) = @_;
	my $r = _rng($seed);
	return [ map { [ map { $r->() * 2 - 1 } 1 .. $d ] } 1 .. $n ];
}

# $n vectors around $k random centres (spread 0.1): the shape real
# embeddings have, and what makes approximate search hard.
sub clustered_vectors
{
	my ($n, $d, $k, $seed) = @_;
	my $r = _rng($seed);
	my @c = map { [ map { $r->() * 2 - 1 } 1 .. $d ] } 1 .. $k;
	return [
		map {
			my $c = $c[ int($r->() * $k) ];
			[ map { $c->[$_] + ($r->() - 0.5) * 0.2 } 0 .. $d - 1 ]
		} 1 .. $n
	];
}

# Exact top-k ids of $q among $vecs under metric l2|ip|cosine|l1, in
# double precision, ties by lower id.
sub exact_topk
{
	my ($vecs, $q, $k, $metric) = @_;
	my @dist;
	my $qq = 0;
	$qq += $_ * $_ for @$q;
	for my $i (0 .. $#$vecs)
	{
		my $v = $vecs->[$i];
		my ($s, $dot, $vv) = (0, 0, 0);
		if ($metric eq 'l2')
		{
			$s += ($v->[$_] - $q->[$_])**2 for 0 .. $#$q;
		}
		elsif ($metric eq 'l1')
		{
			$s += abs($v->[$_] - $q->[$_]) for 0 .. $#$q;
		}
		else
		{
			for (0 .. $#$q) { $dot += $v->[$_] * $q->[$_]; $vv += $v->[$_]**2; }
			$s = $metric eq 'ip' ? -$dot : 1 - $dot / sqrt($vv * $qq || 1);
		}
		push @dist, [ $i, $s ];
	}
	my @top = sort { $a->[1] <=> $b->[1] || $a->[0] <=> $b->[0] } @dist;
	return [ map { $_->[0] } @top[ 0 .. $k - 1 ] ];
}

# Fraction of $truth (list of id lists) found in $got (same shape).
sub recall_at
{
	my ($got, $truth) = @_;
	my ($hit, $all) = (0, 0);
	for my $i (0 .. $#$truth)
	{
		my %g = map { $_ => 1 } @{ $got->[$i] };
		$hit += grep { $g{$_} } @{ $truth->[$i] };
		$all += scalar @{ $truth->[$i] };
	}
	return $all ? $hit / $all : 1;
}

1;
