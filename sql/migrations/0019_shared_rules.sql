-- Two rules that were written out as SQL in many places (and had started to drift), each defined once here.
-- Both are plain SQL functions, so Postgres inlines them into the calling query: the plans stay what they were.
-- (The radius_policy view still spells out the first; migration 0013 rewrites that view, so the integrator
-- moves it onto radbill_line when merging.)

-- An operator's line, nearest first: itself (distance 0), its parent (1), ... up to the group admin. A setting
-- (SMS gateway, template, sending hours, VAT profile, the business name on documents) is taken from the
-- nearest operator on the line that has one:  ... FROM radbill_line(o.id) l JOIN t ON t.operator_id =
-- l.operator_id ORDER BY l.distance LIMIT 1.
CREATE FUNCTION radbill_line(op bigint) RETURNS TABLE (operator_id bigint, distance integer)
LANGUAGE sql STABLE AS $$
    SELECT a.id, nlevel(o.path) - nlevel(a.path)
      FROM operators o JOIN operators a ON a.path @> o.path
     WHERE o.id = op
$$;

-- Whether `seller`'s customers may be given a package or billing profile (`item_kind` 'package' or
-- 'billing_profile'): the seller's own, one assigned to it by its parent, or, for an operator (never a
-- sub-operator, which sells only what it is assigned), one of its ancestors'.
CREATE FUNCTION radbill_sellable(item_kind text, item_id bigint, seller bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT exists(
        SELECT 1
          FROM operators s
          JOIN operators owner ON owner.id = CASE item_kind
                WHEN 'package' THEN (SELECT p.operator_id FROM packages p WHERE p.id = item_id)
                WHEN 'billing_profile' THEN (SELECT b.operator_id FROM billing_profiles b WHERE b.id = item_id) END
         WHERE s.id = seller
           AND (owner.id = s.id
                OR (s.kind <> 'sub_operator' AND owner.path @> s.path)
                OR (item_kind = 'package' AND exists(SELECT 1 FROM package_assignments a
                                                 WHERE a.operator_id = s.id AND a.package_id = item_id))
                OR (item_kind = 'billing_profile' AND exists(SELECT 1 FROM billing_profile_assignments a
                                                         WHERE a.operator_id = s.id AND a.billing_profile_id = item_id))))
$$;
