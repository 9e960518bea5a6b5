CREATE TABLE `leader_term` (
	`id` integer PRIMARY KEY NOT NULL,
	`term` integer NOT NULL,
	`holder` text NOT NULL,
	`since` integer NOT NULL
);
