/* sql/embed.h — the migrations compiled into the library (generated table). */
#ifndef NB_SQL_EMBED_H
#define NB_SQL_EMBED_H

struct nb_sql_file {
	const char *name; /* "pg/001_init.sql", "ch/001_init.sql" — sorted by name */
	const char *text;
};

extern const struct nb_sql_file nb_sql_files[];
extern const int nb_sql_nfiles;

#endif
