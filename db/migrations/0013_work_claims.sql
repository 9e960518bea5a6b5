CREATE TABLE `work_claims` (
	`kind` text NOT NULL,
	`episode_id` text NOT NULL,
	`owner` text,
	`expires_at` integer NOT NULL,
	`claimed_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`taken_over` integer DEFAULT 0 NOT NULL,
	`taken_from` text,
	PRIMARY KEY(`kind`, `episode_id`)
);
--> statement-breakpoint
CREATE INDEX `work_claims_owner_idx` ON `work_claims` (`owner`);