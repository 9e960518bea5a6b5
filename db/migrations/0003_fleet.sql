CREATE TABLE `fleet_limits` (
	`id` integer PRIMARY KEY NOT NULL,
	`limits_json` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `fleet_usage` (
	`day` text PRIMARY KEY NOT NULL,
	`machine_seconds` real DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `machine_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`machine_id` text,
	`kind` text NOT NULL,
	`from_state` text,
	`to_state` text,
	`reason` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `machine_events_machine_idx` ON `machine_events` (`machine_id`,`at`);--> statement-breakpoint
CREATE INDEX `machine_events_at_idx` ON `machine_events` (`at`);--> statement-breakpoint
ALTER TABLE `machines` ADD `fleet_id` text;--> statement-breakpoint
ALTER TABLE `machines` ADD `pool` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `machines` ADD `started_at` integer;--> statement-breakpoint
ALTER TABLE `machines` ADD `accrued_at` integer;