{#- Incremental campaign outcomes (DECISIONLOG, "Incremental campaign outcomes").
    int_campaign_member_outcomes rebuilds every row of the campaigns int_campaigns_touched
    lists and, in every other campaign, the rows of the members int_member_attributes_touched
    lists: a campaign whose window closed before every change the build reads keeps its
    rows. The pre-hook deletes those rows and those of campaigns int_campaign_windows no
    longer holds; the model appends them recomputed. -#}
{% macro campaign_outcomes_incremental() -%}
    {{ return(append_after_delete("{{ delete_touched_campaign_members() }}")) }}
{%- endmacro %}

{% macro delete_touched_campaign_members() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            {{ touched_campaign_members_only('campaign_id', 'member_id') }}
            or campaign_id not in (select campaign_id from {{ ref('int_campaign_windows') }})
    {%- endif -%}
{%- endmacro %}

{#- A condition on a row's campaign and merged member_id (SQL expressions): this run
    rebuilds it; true on a full build. -#}
{% macro touched_campaign_members_only(campaign_id, member_id) -%}
    {%- set campaigns = touched_only('int_campaigns_touched', campaign_id, 'campaign_id') -%}
    {%- set members = touched_only('int_member_attributes_touched', member_id, 'member_id') -%}
    {%- if campaigns == 'true' -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return('(' ~ campaigns ~ ' or ' ~ members ~ ')') }}
{%- endmacro %}
