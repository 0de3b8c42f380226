#!/usr/bin/perl
# Verifies a message (stdin) with Mail::DKIM, keys from one DNS server:
#     dkim_verify.pl DNS-PORT < message
# Prints one line per signature: "RESULT d=DOMAIN s=SELECTOR a=ALGORITHM (DETAIL)".
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;

my $port = shift or die "usage: dkim_verify.pl DNS-PORT < message\n";
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
	nameservers => ['127.0.0.1'], port => $port, recurse => 1, udp_timeout => 5));
my $v = Mail::DKIM::Verifier->new();
binmode STDIN;
while (<STDIN>) {
	s/\r?\n\z/\r\n/;
	$v->PRINT($_);
}
$v->CLOSE;
for my $sig ($v->signatures) {
	printf "%s d=%s s=%s a=%s (%s)\n", $sig->result, $sig->domain, $sig->selector, $sig->algorithm, $sig->result_detail;
}
