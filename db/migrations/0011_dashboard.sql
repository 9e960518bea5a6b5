CREATE TABLE `chunk_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`chunk_id` text NOT NULL,
	`episode_id` text NOT NULL,
	`chunk_index` integer NOT NULL,
	`machine_id` text NOT NULL,
	`generation` integer NOT NULL,
	`attempt` integer NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`outcome` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `chunk_attempts_episode_idx` ON `chunk_attempts` (`episode_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `chunk_attempts_chunk_idx` ON `chunk_attempts` (`chunk_id`);--> statement-breakpoint
CREATE TABLE `dashboard_sessions` (
	`hash` text PRIMARY KEY NOT NULL,
	`token_id` text NOT NULL,
	`csrf_token` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dashboard_sessions_expires_idx` ON `dashboard_sessions` (`expires_at`);