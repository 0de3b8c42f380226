/*
 * commands: the subcommands of the `outpost` CLI, one function each.
 * Contract: each takes the arguments after its own name (argv[0] is the
 * subcommand name, getopt-ready), the config file path given with -c (may
 * be NULL when the command does not need one), and returns the process
 * exit status.  Errors are printed to stderr as "outpost: <cmd>: reason".
 */
#ifndef OUTPOST_COMMANDS_H
#define OUTPOST_COMMANDS_H

int cmd_queue(int argc, char **argv, const char *config_file);
int cmd_check_config(int argc, char **argv, const char *config_file);
int cmd_sendmail(int argc, char **argv, const char *config_file);
int cmd_spf(int argc, char **argv, const char *config_file);
int cmd_doctor(int argc, char **argv, const char *config_file);
int cmd_route(int argc, char **argv, const char *config_file);
int cmd_dkim(int argc, char **argv, const char *config_file);
int cmd_routes(int argc, char **argv, const char *config_file);
int cmd_spool(int argc, char **argv, const char *config_file);
int cmd_bounce(int argc, char **argv, const char *config_file);
int cmd_stats(int argc, char **argv, const char *config_file);
int cmd_suppress(int argc, char **argv, const char *config_file);
int cmd_tenant(int argc, char **argv, const char *config_file);
int cmd_monitor(int argc, char **argv, const char *config_file);
int cmd_dmarc(int argc, char **argv, const char *config_file);
int cmd_placement(int argc, char **argv, const char *config_file);

/* Shared by the subcommands: a decimal option value in min..max into
 * *out; -1 (nothing stored) when it is not one. */
int cli_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* placement_cmd.c, for `outpost monitor` too: the placement results per
 * route and seed with their trend over the last window probes (a JSON
 * array), NULL with err when there are none; and the findings among them
 * (routes whose newest probe landed in spam) printed, their number
 * returned. */
struct config;
struct json_t;
struct json_t *placement_results_json(const struct config *cf, unsigned window, char *err, size_t errlen);
int placement_print_findings(struct json_t *results);
/* The whole file, or standard input for "-", appended to b; -1 (errno
 * set) when it cannot be read. */
struct buf;
int cli_read_file(const char *path, struct buf *b);
/* The spool's database (DIR/queue.db of the config), opened read-write
 * when outpostd has created it at schema version 5 or later; NULL after
 * printing why.  With cfp, the loaded config is handed back too. */
struct config;
typedef struct sqlite3 sqlite3;
sqlite3 *cli_spool_db(const char *config_file, struct config **cfp);
/* After the CLI changed the suppression list: the running outpostd's
 * in-memory copy takes (address, scope) from the spool, or (address NULL)
 * the whole list, before this returns (feedback/suppress_api.h).  0 when
 * done or when no daemon runs (its next start loads the list); -1 with
 * the reason on stderr when a running daemon did not take it. */
int cli_suppress_tell_daemon(const struct config *cf, const char *address, const char *scope);

#endif
