-- Languages (issue 14 item 3): each login picks its own; NULL follows its operator's default. An operator may
-- show numbers in Bengali digits (money, dates, counts) in the Bangla admin and on its Bangla PDFs.
ALTER TABLE accounts ADD COLUMN locale text CHECK (locale IN ('en', 'bn'));
ALTER TABLE operators ADD COLUMN default_locale text NOT NULL DEFAULT 'en' CHECK (default_locale IN ('en', 'bn'));
ALTER TABLE operators ADD COLUMN bengali_digits boolean NOT NULL DEFAULT false;
