CREATE TABLE `chunks` (
	`id` text PRIMARY KEY NOT NULL,
	`episode_id` text NOT NULL,
	`idx` integer NOT NULL,
	`start_sample` integer NOT NULL,
	`end_sample` integer NOT NULL,
	`state` text NOT NULL,
	`attempt` integer DEFAULT 0 NOT NULL,
	`lease_owner` text,
	`leased_at` integer,
	`generation` integer DEFAULT 1 NOT NULL,
	`last_error` text,
	`result_object` text,
	`word_count` integer,
	`processing_ms` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`done_at` integer,
	FOREIGN KEY (`episode_id`) REFERENCES `episodes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `chunks_episode_idx` ON `chunks` (`episode_id`,`idx`);--> statement-breakpoint
CREATE INDEX `chunks_state_idx` ON `chunks` (`state`);--> statement-breakpoint
CREATE TABLE `episodes` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text,
	`source_kind` text NOT NULL,
	`source_url` text,
	`upload_path` text,
	`status` text NOT NULL,
	`error` text,
	`chunk_seconds` real NOT NULL,
	`language` text DEFAULT 'en' NOT NULL,
	`duration_sec` real,
	`sample_count` integer,
	`chunk_count` integer,
	`plan_json` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`ingest_started_at` integer,
	`transcribe_started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `episodes_status_idx` ON `episodes` (`status`);--> statement-breakpoint
CREATE INDEX `episodes_created_idx` ON `episodes` (`created_at`);--> statement-breakpoint
CREATE TABLE `machines` (
	`id` text PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`region` text,
	`image` text,
	`pid` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`destroyed_at` integer
);
--> statement-breakpoint
CREATE INDEX `machines_state_idx` ON `machines` (`state`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
